import { hash } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import { createTokens, PermissionRegistry, type TokenService } from '@jetstream/tokens'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { issueTokens, warmTokens } from './http/token-set.js'
import { formatRate, type Measured, measure } from './measure.js'

const COLUMNS =
  'id, tokenable_type, tokenable_id, name, token, abilities, last_used_at, expires_at, created_at, updated_at, metadata'

// Every call a different token of these, in turn, on both sides: one token repeated would measure only how
// concurrent lookups of one id coalesce.
const TOKENS = 1_000

function timingSafeEqualHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

function row(measured: Measured | undefined, ratio: number): string {
  return `| ${measured?.name} | ${formatRate(measured?.opsPerSecond ?? 0)} | ${ratio.toFixed(2)} | ${(measured?.cpuMicrosPerOp ?? 0).toFixed(1)} µs |`
}

export interface DrizzleBench {
  readonly rows: string[]
  readonly ratios: { readonly backend: string; readonly ratio: number }[]
}

interface Pair {
  readonly backend: string
  readonly tokens: TokenService<'read'>
  readonly plains: readonly string[]
  /** The floor's read of one row by id. */
  readonly select: (id: string) => Promise<{ token: string } | undefined>
  readonly concurrency: number
  readonly label: string
}

// `authenticate` against the floor (split, select by id, sha256, compare) on the same tokens, interleaved.
async function measurePair(pair: Pair): Promise<{ rows: string[]; ratio: number }> {
  const { plains, tokens, select } = pair
  let ours = 0
  let floors = 0
  const floor = async () => {
    const plain = plains[floors++ % plains.length] as string
    const bar = plain.indexOf('|')
    const found = await select(plain.slice(0, bar))
    return found && timingSafeEqualHex(hash('sha256', plain.slice(bar + 1), 'hex'), found.token)
      ? found
      : null
  }
  const [measuredOurs, raw] = await measure(
    [
      {
        name: `@jetstream/drizzle authenticate, ${pair.label}`,
        run: () => tokens.authenticate(plains[ours++ % plains.length] as string),
      },
      { name: `raw floor: select + sha256 + compare, ${pair.label}`, run: floor },
    ],
    { concurrency: pair.concurrency, batch: 8, rounds: 5, sliceMs: 1_000 },
  )
  const ratio = (measuredOurs?.opsPerSecond ?? 0) / (raw?.opsPerSecond ?? 1)
  return { rows: [row(measuredOurs, ratio), row(raw, 1)], ratio }
}

async function issue(tokens: TokenService<'read'>): Promise<string[]> {
  const plains = await issueTokens(tokens, TOKENS)
  await warmTokens(tokens, plains) // steady state: each used just now, so no touch falls due during the run
  return plains
}

/**
 * `authenticate` through `drizzleStore` beside its raw floor, a hand-written `select … where id = $1` + sha256 +
 * constant-time compare on the same client, interleaved in one run, each call a different token of 1,000. Server:
 * postgres.js, 8 in flight. PGlite: one in-process database, 8 in flight, and one at a time.
 */
export async function benchDrizzle(serverUrl: string | undefined): Promise<DrizzleBench> {
  const rows: string[] = []
  const ratios: DrizzleBench['ratios'] = []
  const permissions = new PermissionRegistry({ permissions: ['read'], defaults: ['read'] })
  const add = async (pair: Pair) => {
    const measured = await measurePair(pair)
    rows.push(...measured.rows)
    ratios.push({ backend: pair.backend, ratio: measured.ratio })
  }

  if (serverUrl) {
    const schema = `jetstream_bench_${process.pid}`
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema}`)
    const client = postgres(serverUrl, { max: 4, onnotice: () => {}, connection: { search_path: schema } })
    try {
      const db = drizzlePostgres(client)
      await migrate(db)
      const tokens = createTokens({ store: drizzleStore(db), permissions })
      const plains = await issue(tokens)
      await add({
        backend: 'PostgreSQL server',
        label: 'PostgreSQL server (postgres.js), 8 in flight',
        tokens,
        plains,
        concurrency: 8,
        select: async (id) => {
          const [found] = await client.unsafe(
            `select ${COLUMNS} from personal_access_tokens where id = $1`,
            [id],
            {
              prepare: true,
            },
          )
          return found as { token: string } | undefined
        },
      })
      await tokens.close()
    } finally {
      await client.end({ timeout: 1 })
      await admin.unsafe(`drop schema if exists ${schema} cascade`)
      await admin.end()
    }
  } else {
    rows.push('| PostgreSQL server | skipped: set DATABASE_URL | | |')
  }

  const lite = new PGlite()
  try {
    const db = drizzlePglite(lite)
    await migrate(db)
    const tokens = createTokens({ store: drizzleStore(db), permissions })
    const plains = await issue(tokens)
    const select = async (id: string) => {
      const { rows: found } = await lite.query<{ token: string }>(
        `select ${COLUMNS} from personal_access_tokens where id = $1`,
        [id],
      )
      return found[0]
    }
    // As on the server, 8 in flight: the target's row. One at a time beside it: each lookup then waits alone for
    // the end of the event loop's turn (where the lookups asked in one turn share a statement), a turn this loop
    // of awaits would otherwise never take.
    await add({
      backend: 'PGlite, 8 in flight',
      label: 'PGlite (in process), 8 in flight',
      tokens,
      plains,
      concurrency: 8,
      select,
    })
    await add({
      backend: 'PGlite, one at a time',
      label: 'PGlite (in process), one at a time',
      tokens,
      plains,
      concurrency: 1,
      select,
    })
    await tokens.close()
  } finally {
    await lite.close()
  }
  return { rows, ratios }
}
