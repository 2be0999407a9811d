/**
 * `pnpm demo`: the Hono example on an embedded PostgreSQL (PGlite) kept in `.data/demo` at the repository root,
 * with the demo user and a fresh token for a ready curl line. Ctrl-C stops it cleanly: pending last-used touches
 * are written before the database closes.
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@electric-sql/pglite'
import { createTokenService, demoCredentials } from '@examples/shared'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import { drizzle } from 'drizzle-orm/pglite'
import { startServer } from './server.js'

const dataDir = fileURLToPath(new URL('../../../.data/demo', import.meta.url))
mkdirSync(dataDir, { recursive: true })
const client = new PGlite(dataDir)
const db = drizzle(client)
await migrate(db)

const tokens = createTokenService(drizzleStore(db))
const server = await startServer({
  tokens,
  sessionKey: randomBytes(32).toString('hex'),
  port: Number(process.env.PORT ?? 3000),
})
const { plainTextToken } = await tokens.create('1', 'pnpm demo (curl)', ['read'])

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
  await client.close()
  console.log('  Stopped.')
  process.exit(0)
}
// `on`, not `once`: Ctrl-C reaches this process twice (from the terminal, and forwarded by pnpm), and a second
// signal with no handler left would kill it before the pending touches are written.
process.on('SIGINT', () => void stop())
process.on('SIGTERM', () => void stop())
