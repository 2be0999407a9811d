import { testTokenStore } from '@jetstream/testing'
import { createTokens, StorageUnavailableError } from '@jetstream/tokens'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type AnyPgDatabase, drizzleStore } from './drizzle-token-store.js'
import { migrate } from './migrate.js'
import { serverUrl } from './test-support/databases.js'
import { lockTable } from './test-support/table-lock.js'

/*
 * Behind PgBouncer in transaction mode (Debian's 1.18, which cannot follow prepared statements): every statement
 * may land on another server connection, so nothing may rely on session state or on a named statement, and the
 * change feed listens on a direct connection. The tests run in a database of their own, through the pooler.
 */
const poolerUrl = process.env.PGBOUNCER_URL
if (!poolerUrl && process.env.CI) {
  throw new Error(
    'CI must test behind PgBouncer: set PGBOUNCER_URL (.ci/run starts it with scripts/pgbouncer.sh).',
  )
}
if (!poolerUrl) {
  console.warn(
    'skipped: the tests behind PgBouncer; run `bash scripts/pgbouncer.sh` and set PGBOUNCER_URL=postgres://postgres@127.0.0.1:6432/jetstream_pooled',
  )
}
const ready = Boolean(poolerUrl && serverUrl)

/** The same database as `url`, reached directly rather than through the pooler. */
function directUrl(): string {
  const direct = new URL(serverUrl as string)
  direct.pathname = new URL(poolerUrl as string).pathname
  return direct.toString()
}

let direct: postgres.Sql
beforeAll(async () => {
  if (!ready) return
  const admin = postgres(serverUrl as string, { max: 1, onnotice: () => {} })
  const name = new URL(poolerUrl as string).pathname.slice(1)
  const [exists] = await admin`select 1 from pg_database where datname = ${name}`
  if (!exists) await admin.unsafe(`create database "${name.replaceAll('"', '""')}"`)
  await admin.end()
  direct = postgres(directUrl(), { max: 2, onnotice: () => {} })
  await direct.unsafe('drop table if exists personal_access_tokens cascade')
  await migrate(drizzle(direct))
}, 30_000)
afterAll(async () => {
  await direct?.end({ timeout: 1 })
})

interface Pooled {
  readonly db: AnyPgDatabase
  /** Every statement drizzle sent, as its logger saw it. */
  readonly sent: string[]
  end(): Promise<void>
}

const drivers: [string, () => Pooled][] = [
  [
    'postgres.js',
    () => {
      // postgres.js's own switch for poolers: no named statements.
      const client = postgres(poolerUrl as string, { prepare: false, onnotice: () => {} })
      const sent: string[] = []
      const db = drizzle(client, { logger: { logQuery: (query) => void sent.push(query) } })
      return { db, sent, end: () => client.end({ timeout: 1 }) }
    },
  ],
  [
    'node-postgres',
    () => {
      const pool = new pg.Pool({ connectionString: poolerUrl })
      const sent: string[] = []
      const db = drizzlePg(pool, { logger: { logQuery: (query) => void sent.push(query) } })
      return { db, sent, end: () => pool.end() }
    },
  ],
]

for (const [driver, open] of drivers) {
  if (!ready) break
  let client: ReturnType<typeof open>
  let listen: postgres.Sql
  let peer: ReturnType<typeof open> | undefined
  testTokenStore(`DrizzleTokenStore behind PgBouncer (transaction mode) through ${driver}`, {
    create: () => {
      client = open()
      listen = postgres(directUrl(), { max: 1, onnotice: () => {} })
      return drizzleStore(client.db, { prepare: false, listen: drizzle(listen) })
    },
    reset: async () => void (await direct.unsafe('truncate personal_access_tokens')),
    // Another instance, through the pooler too: its changes reach the listener only by the table's triggers.
    peer: () => {
      peer ??= open()
      return drizzleStore(peer.db, { prepare: false })
    },
    close: async () => {
      await client.end()
      await peer?.end()
      await listen.end({ timeout: 1 })
    },
  })
}

describe.skipIf(!ready).each(drivers)('a verification cache behind PgBouncer, through %s', (_, open) => {
  it('hears a revocation made through the pooler on its direct listening connection', async () => {
    const a = open()
    const b = open()
    const listen = postgres(directUrl(), { max: 1, onnotice: () => {} })
    const errors: unknown[] = []
    const store = (db: AnyPgDatabase, options = {}) => drizzleStore(db, { prepare: false, ...options })
    const tokensA = createTokens({ store: store(a.db), lastUsed: false })
    const tokensB = createTokens({
      store: store(b.db, { listen: drizzle(listen) }),
      cache: true,
      lastUsed: false,
      on: { error: (error) => errors.push(error) },
    })
    try {
      const { token, plainTextToken } = await tokensA.create('42', 'pooled')
      const lookups = () => b.sent.filter((query) => query.startsWith('select')).length
      // The cache is trusted once B listens: then a second lookup is answered without a statement.
      await vi.waitFor(
        async () => {
          expect(await tokensB.authenticate(plainTextToken)).not.toBeNull()
          const before = lookups()
          expect(await tokensB.authenticate(plainTextToken)).not.toBeNull()
          expect(lookups()).toBe(before)
        },
        { timeout: 5_000 },
      )
      await tokensA.revoke('42', token.id)
      await vi.waitFor(async () => expect(await tokensB.authenticate(plainTextToken)).toBeNull(), {
        timeout: 1_000,
      })
      expect(errors).toEqual([])
    } finally {
      await tokensA.close()
      await tokensB.close()
      await listen.end({ timeout: 1 })
      await a.end()
      await b.end()
    }
  })
})

describe.skipIf(!ready).each(drivers)(
  'a verification read past the deadline behind PgBouncer, through %s',
  (_, open) => {
    it('is cancelled on the server through the pooler, while what held it up still does', async () => {
      const pooled = open()
      const tokens = createTokens({
        store: drizzleStore(pooled.db, { prepare: false, timeout: 2_500 }),
        lastUsed: false,
      })
      // The store's reads in this file's database, by their text (the pooler sets the server connection's name).
      const reads = (wait: string) =>
        direct`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and state = 'active' and query like 'select "id", %'
            and ${wait} in ('any', wait_event_type)`.then((rows) => rows[0]?.n)
      try {
        const { plainTextToken } = await tokens.create('42', 'locked out')
        const lock = await lockTable(direct, 'personal_access_tokens')
        try {
          const answer = tokens.authenticate(plainTextToken).catch((e: unknown) => e)
          await expect.poll(() => reads('Lock'), { timeout: 2_000, interval: 20 }).toBe(1)
          expect(await answer).toBeInstanceOf(StorageUnavailableError)
          await expect.poll(() => reads('any'), { timeout: 5_000, interval: 20 }).toBe(0)
        } finally {
          await lock.release()
        }
        expect(await tokens.authenticate(plainTextToken)).toMatchObject({ name: 'locked out' })
      } finally {
        await tokens.close()
        await pooled.end()
      }
    })
  },
)

if (!ready) it.skip('runs behind PgBouncer when PGBOUNCER_URL and DATABASE_URL are set', () => {})
