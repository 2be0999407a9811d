/**
 * `pnpm demo`: the Hono example on an embedded PostgreSQL (PGlite) kept in `.data/demo` at the repository root,
 * with the demo user and a token for a ready curl line. The audit trail (the page's "Activity") is kept in the same
 * database. Ctrl-C stops it cleanly: pending last-used touches and audit events are written before the database
 * closes.
 *
 * `PORT` picks the port (default 3000), checked before the database is opened. PGlite serves one process, so a
 * lock file keeps a second demo off the same folder. Each start replaces the previous demo token.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { createTokenService, demoCredentials } from '@examples/shared'
import { drizzleAuditLog, drizzleStore, migrate } from '@jetstream/drizzle'
import { drizzle } from 'drizzle-orm/pglite'
import { startServer } from './server.js'

const DEMO_TOKEN = 'pnpm demo (curl)'
const dataDir = process.env.DEMO_DATA_DIR ?? fileURLToPath(new URL('../../../.data/demo', import.meta.url))
const lockFile = `${dataDir}.lock`
const port = Number(process.env.PORT ?? 3000)

if (!Number.isInteger(port) || port < 0 || port > 65_535)
  fail(`PORT=${process.env.PORT} is not a port number.`)
if (!(await portIsFree(port))) fail(`Port ${port} is in use: run PORT=${port + 1} pnpm demo`)
mkdirSync(dataDir, { recursive: true })
lock()

const client = new PGlite(dataDir)
const db = drizzle(client)
await migrate(db)

const audit = drizzleAuditLog(db)
const tokens = createTokenService(drizzleStore(db), audit)
const server = await startServer({ tokens, sessionKey: randomBytes(32).toString('hex'), port })
// One demo token at a time: the last start's is replaced, not kept beside the new one.
for (const token of await tokens.list('1')) if (token.name === DEMO_TOKEN) await tokens.revoke('1', token.id)
const { plainTextToken } = await tokens.create('1', DEMO_TOKEN, ['read'])

console.log(`
  @jetstream/tokens demo (Hono, PGlite in ${dataDir})

  API-token page  ${server.url}/
  Sign in as      ${demoCredentials.email} / ${demoCredentials.password}

  A token with the "read" permission, for the API:
  curl -H "Authorization: Bearer ${plainTextToken}" ${server.url}/api/posts

  Ctrl-C to stop.
`)

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  await server.close()
  await tokens.close() // writes pending last-used touches
  await audit.close() // writes pending audit events
  await client.close()
  rmSync(lockFile, { force: true })
  console.log('  Stopped.')
  process.exit(0)
}
// `on`, not `once`: Ctrl-C reaches this process twice (from the terminal, and forwarded by pnpm), and a second
// signal with no handler left would kill it before the pending touches are written.
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())

function fail(message: string): never {
  console.error(`  ${message}`)
  process.exit(1)
}

function portIsFree(wanted: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(wanted, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

// The lock names the process holding the folder; a lock left by a process that is gone is taken over.
function lock(): void {
  try {
    writeFileSync(lockFile, String(process.pid), { flag: 'wx' })
    return
  } catch {
    const holder = Number(readFileSync(lockFile, 'utf8'))
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
      fail(
        `The demo database in ${dataDir} is in use by another demo (process ${holder}): stop that one first.`,
      )
    }
    writeFileSync(lockFile, String(process.pid))
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
