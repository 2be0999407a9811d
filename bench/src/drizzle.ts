import { hash } from 'node:crypto'
import { PGlite } from '@electric-sql/pglite'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import { createTokens } from '@jetstream/tokens'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { formatRate, type Measured, measure } from './measure.js'

const COLUMNS =
  'id, tokenable_type, tokenable_id, name, token, abilities, last_used_at, expires_at, created_at, updated_at'

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

/**
 * `authenticate` through `drizzleStore` beside its raw floor, a hand-written `select … where id = $1` + sha256 +
 * constant-time compare on the same client, interleaved in one run. Server: postgres.js, 8 in flight. PGlite:
 * one in-process database, 1 in flight (it answers one query at a time).
 */
export async function benchDrizzle(serverUrl: string | undefined): Promise<DrizzleBench> {
  const rows: string[] = []
  const ratios: DrizzleBench['ratios'] = []

  if (serverUrl) {
    const schema = `jetstream_bench_${process.pid}`
    const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
    await admin.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema}`)
    const client = postgres(serverUrl, { max: 4, onnotice: () => {}, connection: { search_path: schema } })
    try {
      const db = drizzlePostgres(client)
      await migrate(db)
      const tokens = createTokens({ store: drizzleStore(db) })
      const { plainTextToken } = await tokens.create('42', 'bench', ['read'])
      await tokens.authenticate(plainTextToken)
      await tokens.close() // steady state: last used just now, so no touch during the run
      const bar = plainTextToken.indexOf('|')
      const id = plainTextToken.slice(0, bar)
      const secret = plainTextToken.slice(bar + 1)
      const floor = async () => {
        const [row] = await client.unsafe(
          `select ${COLUMNS} from personal_access_tokens where id = $1`,
          [id],
          {
            prepare: true,
          },
        )
        return row && timingSafeEqualHex(hash('sha256', secret, 'hex'), row.token) ? row : null
      }
      const [ours, raw] = await measure(
        [
          {
            name: '@jetstream/drizzle authenticate, PostgreSQL server (postgres.js)',
            run: () => tokens.authenticate(plainTextToken),
          },
          { name: 'raw floor: postgres.js select + sha256 + compare', run: floor },
        ],
        { concurrency: 8, batch: 8, rounds: 5, sliceMs: 1_000 },
      )
      const ratio = (ours?.opsPerSecond ?? 0) / (raw?.opsPerSecond ?? 1)
      ratios.push({ backend: 'PostgreSQL server', ratio })
      rows.push(row(ours, ratio), row(raw, 1))
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
    const tokens = createTokens({ store: drizzleStore(db) })
    const { plainTextToken } = await tokens.create('42', 'bench', ['read'])
    await tokens.authenticate(plainTextToken)
    await tokens.close()
    const bar = plainTextToken.indexOf('|')
    const id = plainTextToken.slice(0, bar)
    const secret = plainTextToken.slice(bar + 1)
    const floor = async () => {
      const { rows: found } = await lite.query<{ token: string }>(
        `select ${COLUMNS} from personal_access_tokens where id = $1`,
        [id],
      )
      const row = found[0]
      return row && timingSafeEqualHex(hash('sha256', secret, 'hex'), row.token) ? row : null
    }
    const [ours, raw] = await measure(
      [
        {
          name: '@jetstream/drizzle authenticate, PGlite (in process)',
          run: () => tokens.authenticate(plainTextToken),
        },
        { name: 'raw floor: PGlite query + sha256 + compare', run: floor },
      ],
      { batch: 8, rounds: 5, sliceMs: 1_000 },
    )
    const ratio = (ours?.opsPerSecond ?? 0) / (raw?.opsPerSecond ?? 1)
    ratios.push({ backend: 'PGlite', ratio })
    rows.push(row(ours, ratio), row(raw, 1))
    await tokens.close()
  } finally {
    await lite.close()
  }
  return { rows, ratios }
}
