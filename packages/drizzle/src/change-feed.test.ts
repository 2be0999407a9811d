import { createTokens, MisconfigurationError } from '@jetstream/tokens'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { migrate } from './migrate.js'
import {
  localAndServer,
  pgliteDatabase,
  postgresJsDatabase,
  serverUrl,
  type TestDatabase,
} from './test-support/databases.js'
import { startProxy } from './test-support/proxy.js'

/** Waits until `check` holds, and says how long that took. */
async function within(ms: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now()
  while (Date.now() - started < ms) {
    if (await check()) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`not within ${ms} ms`)
}

const backends = localAndServer()

describe.each(backends)('a table without its change triggers, on %s', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
    // As drizzle-kit makes the table from the schema alone: here one trigger of three is missing.
    await database.exec('drop trigger personal_access_tokens_notify_delete on personal_access_tokens')
  }, 30_000)
  afterAll(() => database.close())

  it('keeps the cache off while they are missing, says why once, and turns it on once they exist', async () => {
    const errors: unknown[] = []
    const a = createTokens({ store: drizzleStore(database.db), lastUsed: false })
    const b = createTokens({
      store: drizzleStore(database.db, { probeInterval: 50 }),
      cache: true,
      lastUsed: false,
      on: { error: (error) => errors.push(error) },
    })
    const { token, plainTextToken } = await a.create('42', 'revoked elsewhere', ['read'])
    await vi.waitFor(() => expect(errors).toHaveLength(1))
    expect(errors[0]).toBeInstanceOf(MisconfigurationError)
    expect((errors[0] as Error).message).toContain(
      'CREATE OR REPLACE TRIGGER personal_access_tokens_notify_delete',
    )
    expect(await b.authenticate(plainTextToken)).not.toBeNull()
    expect(await b.authenticate(plainTextToken)).not.toBeNull()
    await a.revoke('42', token.id) // no trigger announces this delete: only a bypassed cache can see it
    expect(await b.authenticate(plainTextToken)).toBeNull()
    await new Promise((resolve) => setTimeout(resolve, 200)) // several probes: each checks again, none reports again
    expect(errors).toHaveLength(1)

    // migrate() adds what is missing; B's next probe finds the triggers and trusts its cache again.
    await migrate(database.db)
    const other = await a.create('42', 'cached again', ['read'])
    const sent = database.statements.length
    await vi.waitFor(async () => {
      await b.authenticate(other.plainTextToken)
      const before = database.statements.length
      await b.authenticate(other.plainTextToken)
      expect(database.statements.length).toBe(before)
    })
    expect(database.statements.length).toBeGreaterThan(sent)
    expect(errors).toHaveLength(1)
    await a.close()
    await b.close()
    await database.exec('drop trigger personal_access_tokens_notify_delete on personal_access_tokens')
  })

  it('says so on the console when the app has no error hook', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const tokens = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
      await vi.waitFor(() => expect(printed).toHaveBeenCalledOnce())
      expect(String(printed.mock.calls[0]?.[0])).toMatch(
        /verification cache is off\. The table .* no change triggers/,
      )
      await tokens.close()
    } finally {
      printed.mockRestore()
    }
  })
})

describe('two instances on one PGlite, each with a verification cache', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await pgliteDatabase()
  })
  afterAll(() => database.close())

  it('B drops what A revokes or changes, and what plain SQL deletes, at once', async () => {
    const a = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
    const b = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
    const first = await a.create('42', 'first', ['read'])
    const second = await a.create('42', 'second', ['read'])
    const third = await a.create('42', 'third', ['read'])
    for (const token of [first, second, third]) {
      await within(1_000, async () => (await b.authenticate(token.plainTextToken)) !== null)
      await b.authenticate(token.plainTextToken) // now cached on B
    }

    await a.revoke('42', first.token.id)
    await within(1_000, async () => (await b.authenticate(first.plainTextToken)) === null)

    await a.update('42', second.token.id, { abilities: ['*'] })
    await within(1_000, async () => (await b.authenticate(second.plainTextToken))?.can('anything') === true)

    await database.exec(`delete from personal_access_tokens where id = ${Number(third.token.id)}`)
    await within(1_000, async () => (await b.authenticate(third.plainTextToken)) === null)
    await a.close()
    await b.close()
  })
})

describe.skipIf(!serverUrl)(
  'two instances on the PostgreSQL server, each with its own connections and cache',
  () => {
    let database: TestDatabase & { schema: string }
    let clientB: postgres.Sql
    const sentByB: string[] = []
    beforeAll(async () => {
      database = await postgresJsDatabase(serverUrl as string)
      clientB = postgres(serverUrl as string, {
        onnotice: () => {},
        connection: { search_path: database.schema, application_name: `jetstream_b_${database.schema}` },
        debug: (_connection, query) => void sentByB.push(query),
      })
    })
    afterAll(async () => {
      await clientB.end({ timeout: 1 })
      await database.close()
    })

    it('B refuses a token A revoked within a second, sees changed abilities, and follows plain SQL', async () => {
      const a = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
      const b = createTokens({
        store: drizzleStore(drizzle(clientB), { probeInterval: 100 }),
        cache: true,
        lastUsed: false,
      })
      const revoked = await a.create('42', 'revoked', ['read'])
      const widened = await a.create('42', 'widened', ['read'])
      const deleted = await a.create('42', 'deleted', ['read'])

      // B's feed is live once a lookup is answered from its cache (no select sent).
      await within(3_000, async () => {
        await b.authenticate(revoked.plainTextToken)
        const before = sentByB.length
        await b.authenticate(revoked.plainTextToken)
        return sentByB.length === before
      })
      for (const token of [widened, deleted]) await b.authenticate(token.plainTextToken)

      await a.revoke('42', revoked.token.id)
      const delay = await within(1_000, async () => (await b.authenticate(revoked.plainTextToken)) === null)
      expect(delay).toBeLessThan(1_000)

      await a.update('42', widened.token.id, { abilities: ['*'] })
      await within(
        1_000,
        async () => (await b.authenticate(widened.plainTextToken))?.can('anything') === true,
      )

      await database.exec(`delete from personal_access_tokens where id = ${Number(deleted.token.id)}`)
      await within(1_000, async () => (await b.authenticate(deleted.plainTextToken)) === null)
      await a.close()
      await b.close()
    })

    it('B stops trusting its cache when its listening connection is killed, and trusts it again once re-listening', async () => {
      const b = createTokens({
        store: drizzleStore(drizzle(clientB), { probeInterval: 100 }),
        cache: true,
        lastUsed: false,
      })
      const { plainTextToken } = await b.create('42', 'watched')
      const answeredFromCache = async () => {
        await b.authenticate(plainTextToken)
        const before = sentByB.filter((q) => q.startsWith('select "id"')).length
        await b.authenticate(plainTextToken)
        return sentByB.filter((q) => q.startsWith('select "id"')).length === before
      }
      await within(3_000, answeredFromCache)

      const sentASelect = async () => {
        const before = sentByB.filter((q) => q.startsWith('select "id"')).length
        await b.authenticate(plainTextToken)
        return sentByB.filter((q) => q.startsWith('select "id"')).length > before
      }
      expect(await sentASelect()).toBe(false)
      await database.exec(
        `select pg_terminate_backend(pid) from pg_stat_activity
       where application_name = 'jetstream_b_${database.schema}' and query ilike 'listen%'`,
      )
      // The cache is dropped (changes may have been missed while the connection was gone)…
      await within(2_000, sentASelect)
      // …and trusted again once B listens anew.
      await within(5_000, answeredFromCache)
      await b.close()
    })

    it('B on postgres.js refuses a token revoked while its listening connection was down, without waiting for a probe', async () => {
      const b = createTokens({
        store: drizzleStore(drizzle(clientB), { probeInterval: 60_000 }),
        cache: true,
        lastUsed: false,
      })
      const a = createTokens({ store: drizzleStore(database.db), lastUsed: false })
      const { token, plainTextToken } = await a.create('42', 'watched over postgres.js')
      const lookups = () => sentByB.filter((q) => q.startsWith('select "id"')).length
      try {
        await within(3_000, async () => {
          await b.authenticate(plainTextToken)
          const before = lookups()
          await b.authenticate(plainTextToken)
          return lookups() === before
        })
        await database.exec(
          `select pg_terminate_backend(pid) from pg_stat_activity
           where application_name = 'jetstream_b_${database.schema}' and query ilike 'listen%'`,
        )
        // Revoked while B's listening connection is gone: its NOTIFY reaches nobody.
        await a.revoke('42', token.id)
        // postgres.js re-listens at once, and the feed starts the cache afresh when it does; the probe is a
        // minute away, so only that can explain a refusal here.
        await within(1_000, async () => (await b.authenticate(plainTextToken)) === null)
      } finally {
        await a.close()
        await b.close()
      }
    })

    it('B on node-postgres stops trusting its cache as soon as its listening connection is lost, and trusts it again once listening, not at the next probe', async () => {
      const name = `jetstream_np_${database.schema}`
      const pool = new pg.Pool({
        connectionString: serverUrl,
        application_name: name,
        options: `-c search_path=${database.schema}`,
      })
      // The lookups B sends, counted where drizzle and the store hand them to the pool.
      let lookups = 0
      const query = pool.query.bind(pool) as (...args: unknown[]) => unknown
      pool.query = ((...args: unknown[]) => {
        const text = String(
          (args[0] as { text?: string } | string | undefined) && typeof args[0] === 'object'
            ? (args[0] as { text?: string }).text
            : args[0],
        )
        if (text.startsWith('select "id"')) lookups++
        return query(...args)
      }) as typeof pool.query
      // A probe a minute apart: only the lost connection itself can explain a refusal within the test.
      const b = createTokens({
        store: drizzleStore(drizzlePg(pool), { probeInterval: 60_000 }),
        cache: true,
        lastUsed: false,
      })
      const a = createTokens({ store: drizzleStore(database.db), lastUsed: false })
      const { token, plainTextToken } = await a.create('42', 'watched over node-postgres')
      try {
        await within(3_000, async () => {
          await b.authenticate(plainTextToken)
          const before = lookups
          await b.authenticate(plainTextToken)
          return lookups === before
        })
        await database.exec(
          `select pg_terminate_backend(pid) from pg_stat_activity where application_name = '${name}' and query ilike 'listen%'`,
        )
        // Revoked while B hears nothing: B must not answer from its cache any more.
        await a.revoke('42', token.id)
        await within(2_000, async () => (await b.authenticate(plainTextToken)) === null)
        // Listening again, B checks at once that changes reach it, and trusts its cache without waiting a minute.
        const next = await a.create('42', 'after the loss')
        await within(3_000, async () => {
          await b.authenticate(next.plainTextToken)
          const before = lookups
          await b.authenticate(next.plainTextToken)
          return lookups === before
        })
      } finally {
        await b.close()
        await pool.end()
      }
    })

    it('B bypasses its cache while the server is unreachable, and resumes once its probe comes back', async () => {
      const target = new URL(serverUrl as string)
      const proxy = await startProxy({ host: target.hostname, port: Number(target.port || 5432) })
      const url = new URL(serverUrl as string)
      url.port = String(proxy.port)
      const sent: string[] = []
      const client = postgres(url.toString(), {
        onnotice: () => {},
        connect_timeout: 1,
        connection: { search_path: database.schema },
        debug: (_connection, query) => void sent.push(query),
      })
      const b = createTokens({
        store: drizzleStore(drizzle(client), { probeInterval: 100, timeout: 500 }),
        cache: true,
        lastUsed: false,
      })
      const { plainTextToken } = await b.create('42', 'through the proxy')
      const lookups = () => sent.filter((q) => q.startsWith('select "id"')).length
      const fromCache = async () => {
        await b.authenticate(plainTextToken).catch(() => null)
        const before = lookups()
        await b.authenticate(plainTextToken).catch(() => null)
        return lookups() === before
      }
      try {
        await within(3_000, fromCache)
        // postgres.js tries to re-listen at once, fails while the server is away, and does not try again.
        await proxy.down()
        await new Promise((resolve) => setTimeout(resolve, 500))
        await proxy.up()
        // The probe notices its nonce never came back, listens anew, and the cache is trusted again.
        await within(5_000, fromCache)
      } finally {
        await b.close()
        await client.end({ timeout: 1 })
        await proxy.close()
      }
    })
  },
)
