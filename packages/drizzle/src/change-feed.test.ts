import { createTokens, MisconfigurationError, type TokenService } from '@jetstream/tokens'
import { entityKind, sql } from 'drizzle-orm'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { bigint } from 'drizzle-orm/pg-core'
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
import { tokenTableKeyedBy } from './test-support/tables.js'

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
// Probes every 50 ms: a few of them, with room for a busy machine.
const WAIT = { timeout: 5_000 }

describe.each(backends)('a table without its change triggers, on %s', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
    // As drizzle-kit makes the table from the schema alone: here one trigger of three is missing.
    await database.exec('drop trigger personal_access_tokens_notify_delete on personal_access_tokens')
  }, 30_000)
  afterAll(() => database.close())

  /** A without a cache, B with one, probing every 50 ms, and the errors B reports. */
  function instances() {
    const errors: unknown[] = []
    const a = createTokens({ store: drizzleStore(database.db), lastUsed: false })
    const b = createTokens({
      store: drizzleStore(database.db, { probeInterval: 50 }),
      cache: true,
      lastUsed: false,
      on: { error: (error) => errors.push(error) },
    })
    return { errors, a, b }
  }

  it('keeps the cache off while they are missing, says why once, and turns it on once they exist', async () => {
    const { errors, a, b } = instances()
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

  it('stops trusting its cache within a probe or two when the triggers are disabled while it runs', async () => {
    await migrate(database.db)
    const { errors, a, b } = instances()
    // Lookups only: the feed's own probes run between them.
    const lookups = () => database.statements.filter((text) => text.startsWith('select "id"')).length
    const fromCache = async (plainText: string) => {
      await b.authenticate(plainText)
      const before = lookups()
      await b.authenticate(plainText)
      return lookups() === before
    }
    try {
      const { token, plainTextToken } = await a.create('42', 'disabled under it', ['read'])
      await vi.waitFor(async () => expect(await fromCache(plainTextToken)).toBe(true), WAIT)
      await database.exec(
        'alter table personal_access_tokens disable trigger personal_access_tokens_notify_delete',
      )
      await vi.waitFor(() => expect(errors).toHaveLength(1), WAIT)
      expect(errors[0]).toBeInstanceOf(MisconfigurationError)
      expect(await fromCache(plainTextToken)).toBe(false)
      await a.revoke('42', token.id) // no trigger announces this delete: only a bypassed cache can see it
      expect(await b.authenticate(plainTextToken)).toBeNull()
      await database.exec(
        'alter table personal_access_tokens enable trigger personal_access_tokens_notify_delete',
      )
      const other = await a.create('42', 'cached again', ['read'])
      await vi.waitFor(async () => expect(await fromCache(other.plainTextToken)).toBe(true), WAIT)
    } finally {
      await a.close()
      await b.close()
      await database.exec('drop trigger personal_access_tokens_notify_delete on personal_access_tokens')
    }
  })

  it('counts a trigger enabled for replicas only as missing: it fires in no session of the app', async () => {
    await migrate(database.db)
    await database.exec(
      'alter table personal_access_tokens enable replica trigger personal_access_tokens_notify_delete',
    )
    const { errors, a, b } = instances()
    try {
      await vi.waitFor(() => expect(errors).toHaveLength(1), WAIT)
      expect(errors[0]).toBeInstanceOf(MisconfigurationError)
    } finally {
      await a.close()
      await b.close()
      await database.exec('drop trigger personal_access_tokens_notify_delete on personal_access_tokens')
    }
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

describe('drivers and tables the feed cannot follow', () => {
  // What a store's `watch` says at once, before anything is sent: `refused`, or nothing yet.
  const refusalOf = (store: ReturnType<typeof drizzleStore>) => {
    const refusals: Error[] = []
    const stop = store.watch({
      changed: () => {},
      delivering: () => {},
      refused: (error) => refusals.push(error),
    })
    void stop()
    return refusals[0]
  }

  it('refuse the cache at once: a node-postgres Client has no connection to spare, an unknown driver no way to listen', () => {
    // Never connected: building the store and refusing send nothing.
    const client = new pg.Client({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
    expect(refusalOf(drizzleStore(drizzlePg(client)))).toBeInstanceOf(MisconfigurationError)
    expect(refusalOf(drizzleStore(drizzlePg(client)))?.message).toMatch(/cannot listen .* node-postgres Pool/)
    // A database of a driver this package does not know: its class (here a stand-in) tags another kind.
    const OtherDatabase = { [entityKind]: 'OtherDatabase' }
    const db = drizzlePg(client)
    const other = Object.assign(Object.create(Object.getPrototypeOf(db)), db, { constructor: OtherDatabase })
    expect(refusalOf(drizzleStore(other))).toBeInstanceOf(MisconfigurationError)
  })

  it('refuse the cache for a table the triggers do not announce, and follow any table named as theirs', async () => {
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
    const db = drizzlePg(pool)
    const table = (name: string, schema?: string) =>
      drizzleStore(db, {
        table: tokenTableKeyedBy(name, bigint('id', { mode: 'number' }).primaryKey(), schema),
      })
    expect(refusalOf(table('api_tokens'))?.message).toMatch(/not to api_tokens,/)
    expect(refusalOf(table('personal_access_tokens', 'other'))?.message).toMatch(
      /not to other\.personal_access_tokens,/,
    )
    // A Laravel table defined by the app: the same SQL table, which the triggers announce once added to it.
    expect(refusalOf(table('personal_access_tokens'))).toBeUndefined()
    await pool.end()
  })

  it('tell a service with a cache, which keeps the cache off and says so', async () => {
    const client = new pg.Client({ connectionString: 'postgres://nobody@127.0.0.1:1/none' })
    const errors: unknown[] = []
    const tokens = createTokens({
      store: drizzleStore(drizzlePg(client)),
      cache: true,
      lastUsed: false,
      on: { error: (error) => void errors.push(error) },
    })
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(MisconfigurationError)
    await tokens.close()
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

  it('B follows plain SQL that changes any column but the use times, and hears nothing of a touch', async () => {
    const a = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
    const b = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
    const { token, plainTextToken } = await a.create('42', 'scoped', ['read'], {
      metadata: { repository: 'acme/api' },
    })
    // Lookups only: the feeds' own probes (a catalog check and a NOTIFY each second) run between them.
    const lookups = () => database.statements.filter((text) => text.startsWith('select "id"')).length
    const cached = async () => {
      await b.authenticate(plainTextToken)
      const before = lookups()
      const found = await b.authenticate(plainTextToken)
      return lookups() === before ? found : undefined
    }
    await within(WAIT.timeout, async () => (await cached()) !== undefined)
    const id = Number(token.id)
    await database.exec(
      `update personal_access_tokens set metadata = '{"repository":"acme/other"}' where id = ${id}`,
    )
    await within(WAIT.timeout, async () => (await cached())?.metadata?.repository === 'acme/other')
    // The service's global expiration counts from created_at: backdating it must reach every cache.
    await database.exec(
      `update personal_access_tokens set created_at = '2001-01-01T00:00:00Z' where id = ${id}`,
    )
    await within(WAIT.timeout, async () => (await cached())?.createdAt.getUTCFullYear() === 2001)
    const heard = lookups()
    await database.exec(
      `update personal_access_tokens set last_used_at = now(), updated_at = now() where id = ${id}`,
    )
    expect((await cached())?.createdAt.getUTCFullYear()).toBe(2001) // still answered from B's cache
    expect(lookups()).toBe(heard) // no lookup followed the update: B kept its entry
    await a.close()
    await b.close()
  })

  it('B empties its whole cache when plain SQL truncates the table', async () => {
    const a = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
    const b = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
    const tokens = [await a.create('42', 'first', ['read']), await a.create('7', 'second', ['read'])]
    for (const token of tokens) {
      await within(1_000, async () => (await b.authenticate(token.plainTextToken)) !== null)
    }
    // Each now cached on B, for a minute by default.
    await database.exec('truncate personal_access_tokens')
    for (const token of tokens) {
      await within(1_000, async () => (await b.authenticate(token.plainTextToken)) === null)
    }
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

    it('never trusts its cache when `listen` reaches another database: the probes go through the store’s own', async () => {
      // Another database with a migrated table and its triggers, as a mistaken direct URL might name.
      const elsewhere = new URL(serverUrl as string)
      elsewhere.pathname = '/postgres'
      const other = await postgresJsDatabase(elsewhere.toString())
      const live: boolean[] = []
      const stop = drizzleStore(database.db, { listen: other.db, probeInterval: 50 }).watch({
        changed: () => {},
        delivering: (now) => void live.push(now),
        refused: () => {},
      })
      try {
        // Three probes sent on the store's database, and none heard where the feed listens.
        const probes = () => database.statements.filter((text) => text.includes('pg_notify')).length
        await vi.waitFor(() => expect(probes()).toBeGreaterThanOrEqual(3), WAIT)
        expect(live).not.toContain(true)
      } finally {
        await stop()
        await other.close()
      }
    })

    // B on each driver, with the lookups it sends counted; probes a minute apart, so only the lost connection
    // itself can explain a refusal within a test.
    const drivers = {
      'postgres.js': (name: string, url = serverUrl as string) => {
        let lookups = 0
        const client = postgres(url, {
          onnotice: () => {},
          // Through a proxy that goes down: postgres.js leaves a failed fetch of its array types unhandled
          // (porsager/postgres#1192), which would fail the run. The store needs no fetched types.
          fetch_types: url === serverUrl,
          connection: { search_path: database.schema, application_name: name },
          debug: (_connection, query) => void (query.startsWith('select "id"') && lookups++),
        })
        return { db: drizzle(client), lookups: () => lookups, end: () => client.end({ timeout: 1 }) }
      },
      'node-postgres': (name: string, url = serverUrl as string) => {
        let lookups = 0
        const pool = new pg.Pool({
          connectionString: url,
          application_name: name,
          options: `-c search_path=${database.schema}`,
        })
        // An idle connection the proxy cuts is reported on the pool; an app handles it the same way.
        pool.on('error', () => {})
        // Counted where drizzle and the store hand them to the pool.
        const query = pool.query.bind(pool) as (...args: unknown[]) => unknown
        pool.query = ((...args: unknown[]) => {
          const first = args[0] as { text?: string } | string
          if (String(typeof first === 'object' ? first.text : first).startsWith('select "id"')) lookups++
          return query(...args)
        }) as typeof pool.query
        return { db: drizzlePg(pool), lookups: () => lookups, end: () => pool.end() }
      },
    }

    // Whether B answers a second use of the token from its cache: no lookup sent.
    const answeredFromCache =
      (tokens: TokenService, lookups: () => number, plainTextToken: string) => async () => {
        await tokens.authenticate(plainTextToken)
        const before = lookups()
        await tokens.authenticate(plainTextToken)
        return lookups() === before
      }

    it.each(Object.keys(drivers) as (keyof typeof drivers)[])(
      'B on %s stops trusting its cache as soon as its listening connection is lost, and trusts it again once listening, not at the next probe',
      async (driver) => {
        const name = `jetstream_${driver === 'postgres.js' ? 'pj' : 'np'}_${database.schema}`
        const b = drivers[driver](name)
        const tokensB = createTokens({
          store: drizzleStore(b.db, { probeInterval: 60_000 }),
          cache: true,
          lastUsed: false,
        })
        const a = createTokens({ store: drizzleStore(database.db), lastUsed: false })
        const { token, plainTextToken } = await a.create('42', `watched over ${driver}`)
        try {
          await within(3_000, answeredFromCache(tokensB, b.lookups, plainTextToken))
          await database.exec(
            `select pg_terminate_backend(pid) from pg_stat_activity where application_name = '${name}' and query ilike 'listen%'`,
          )
          // Revoked while B hears nothing: B must not answer from its cache any more.
          await a.revoke('42', token.id)
          await within(2_000, async () => (await tokensB.authenticate(plainTextToken)) === null)
          // Listening again, B checks at once that changes reach it, and trusts its cache without waiting a minute.
          const next = await a.create('42', 'after the loss')
          await within(3_000, answeredFromCache(tokensB, b.lookups, next.plainTextToken))
        } finally {
          await a.close()
          await tokensB.close()
          await b.end()
        }
      },
    )

    it.each(Object.keys(drivers) as (keyof typeof drivers)[])(
      'B on %s bypasses its cache from the instant its listening connection drops, even when it cannot listen again',
      async (driver) => {
        // B listens through a proxy and reads directly: taking the proxy down loses the listening connection for
        // good, while B's lookups still reach the server.
        const target = new URL(serverUrl as string)
        const proxy = await startProxy({ host: target.hostname, port: Number(target.port || 5432) })
        const url = new URL(serverUrl as string)
        url.port = String(proxy.port)
        const name = `jetstream_down_${database.schema}`
        const b = drivers[driver](name)
        const listening = drivers[driver](name, url.toString())
        const tokensB = createTokens({
          store: drizzleStore(b.db, { listen: listening.db, probeInterval: 60_000 }),
          cache: true,
          lastUsed: false,
        })
        const a = createTokens({ store: drizzleStore(database.db), lastUsed: false })
        const { token, plainTextToken } = await a.create('42', `dropped on ${driver}`)
        try {
          await within(3_000, answeredFromCache(tokensB, b.lookups, plainTextToken))
          await proxy.down()
          await a.revoke('42', token.id)
          await within(2_000, async () => (await tokensB.authenticate(plainTextToken)) === null)
        } finally {
          await a.close()
          await tokensB.close()
          await b.end()
          await listening.end()
          await proxy.close()
        }
      },
    )

    it('B keeps one listening connection after a hang, however many attempts to listen again it made meanwhile', async () => {
      const target = new URL(serverUrl as string)
      const proxy = await startProxy({ host: target.hostname, port: Number(target.port || 5432) })
      const url = new URL(serverUrl as string)
      url.port = String(proxy.port)
      const name = `jetstream_hang_${database.schema}`
      // No attempt gives up while the server hangs: each waits, and lands once it answers again.
      const client = postgres(url.toString(), {
        onnotice: () => {},
        fetch_types: false,
        connect_timeout: 30,
        connection: { search_path: database.schema, application_name: name },
      })
      const listening = async () => {
        const rows = await database.db.execute(
          sql`select count(*)::int as n from pg_stat_activity where application_name = ${name} and query ilike 'listen %'`,
        )
        return (rows as unknown as { n: number }[])[0]?.n ?? 0
      }
      const b = createTokens({
        store: drizzleStore(drizzle(client), { probeInterval: 100, timeout: 500 }),
        cache: true,
        lastUsed: false,
      })
      try {
        await within(3_000, async () => (await listening()) === 1)
        const before = proxy.accepted
        proxy.hang()
        // Probes find their nonces missing and B tries to listen anew, again and again: the probes and the attempts
        // each wait on a connection of their own while the server hangs. Wait for five, not for a time.
        await within(10_000, async () => proxy.accepted - before >= 5)
        proxy.resume()
        // One, not one per attempt. A moment later still at most two (a probe late on a busy machine may have it
        // listen anew for an instant), however the attempts that waited land.
        await within(3_000, async () => (await listening()) === 1)
        await new Promise((resolve) => setTimeout(resolve, 500))
        expect(await listening()).toBeLessThanOrEqual(2)
      } finally {
        await b.close()
        await client.end({ timeout: 1 })
        await proxy.close()
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
        fetch_types: false, // as for the drivers above
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
        // The listening connection is lost, and listening anew fails while the server is away.
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
