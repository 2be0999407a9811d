import type { PGlite } from '@electric-sql/pglite'
import type { AuditEvent } from '@jetstream/tokens'
import { MemoryAuditLog, MisconfigurationError, StorageUnavailableError } from '@jetstream/tokens'
import { asc, count } from 'drizzle-orm'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { type DrizzleAuditLog, type DrizzleAuditLogOptions, drizzleAuditLog } from './audit-log.js'
import { tokenAuditLog } from './schema.js'
import {
  localAndServer,
  pgliteDatabase,
  postgresJsDatabase,
  serverUrl,
  type TestDatabase,
} from './test-support/databases.js'
import { type DatabaseProxy, startProxy } from './test-support/proxy.js'

const BASE = Date.parse('2030-01-01T12:00:00.000Z')
const user42 = { type: 'user', id: '42' }

function event(overrides: Partial<AuditEvent> & { at?: Date }): AuditEvent {
  return {
    action: 'created',
    at: new Date(BASE),
    actor: { type: 'user', id: '42' },
    owner: user42,
    tokenId: '7',
    reason: null,
    count: null,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64)',
    ...overrides,
  }
}

function second(n: number): Date {
  return new Date(BASE + n * 1_000)
}

// Each step of a token's life, in order, one second apart; plus other owners' events about the same ids.
const script: AuditEvent[] = [
  event({ action: 'created', at: second(0) }),
  event({ action: 'updated', at: second(1) }),
  event({ action: 'rotated', at: second(2), tokenId: '8', previousTokenId: '7' }),
  event({ action: 'authenticated', at: second(3), tokenId: '8', actor: { type: 'token', id: '8' } }),
  event({ action: 'refused', at: second(4), tokenId: '8', actor: null, reason: 'expired' }),
  event({ action: 'refused', at: second(5), owner: null, tokenId: '99', actor: null, reason: 'unknown' }),
  event({ action: 'revoked', at: second(6), tokenId: '8' }),
  event({
    action: 'pruned',
    at: second(7),
    owner: null,
    tokenId: null,
    actor: null,
    count: 3,
    ip: null,
    userAgent: null,
  }),
  // The same token ids, other owners: never in user 42's lists.
  event({
    action: 'created',
    at: second(8),
    owner: { type: 'user', id: '43' },
    actor: { type: 'user', id: '43' },
  }),
  event({ action: 'revoked', at: second(9), owner: { type: 'team', id: '42' }, tokenId: '8' }),
]

// What MemoryAuditLog and the table give back for an event: `previousTokenId` always there.
function stored(e: AuditEvent): AuditEvent {
  return { ...e, previousTokenId: e.previousTokenId ?? null }
}

describe.each(localAndServer())('drizzleAuditLog on %s', (_, open) => {
  let database: TestDatabase
  const logs: DrizzleAuditLog[] = []
  let errors: Error[]

  function auditLog(options: DrizzleAuditLogOptions = {}): DrizzleAuditLog {
    // A long delay, so nothing is written unless a test flushes, closes or fills a batch.
    const log = drizzleAuditLog(database.db, {
      flushDelay: 60_000,
      onError: (error) => errors.push(error),
      ...options,
    })
    logs.push(log)
    return log
  }

  async function rows() {
    return database.db.select().from(tokenAuditLog).orderBy(asc(tokenAuditLog.id))
  }

  async function rowCount(): Promise<number> {
    const [row] = await database.db.select({ n: count() }).from(tokenAuditLog)
    return row?.n ?? 0
  }

  beforeAll(async () => {
    database = await open()
  }, 60_000)
  afterAll(async () => {
    await database.close()
  }, 30_000)
  beforeEach(async () => {
    errors = []
    await database.exec('truncate token_audit_log')
    database.statements.length = 0
  }, 10_000)
  afterEach(async () => {
    await Promise.all(logs.splice(0).map((log) => log.close()))
  }, 30_000)

  it('writes each event as a row, and reads a token’s latest events back newest first, as MemoryAuditLog does', async () => {
    const audit = auditLog()
    const memory = new MemoryAuditLog()
    for (const e of script) {
      audit.record(e)
      memory.record(e)
    }
    await audit.flush()

    expect((await rows()).map(({ id: _, ...row }) => row)).toEqual(
      script.map((e) => ({
        action: e.action,
        at: e.at,
        actorType: e.actor?.type ?? null,
        actorId: e.actor?.id ?? null,
        ownerType: e.owner?.type ?? null,
        ownerId: e.owner?.id ?? null,
        tokenId: e.tokenId,
        previousTokenId: e.previousTokenId ?? null,
        reason: e.reason,
        count: e.count,
        ip: e.ip,
        userAgent: e.userAgent,
      })),
    )

    const steps = (...indexes: number[]) => indexes.map((i) => stored(script[i] as AuditEvent))
    // The old token's id finds its rotation; the new one's finds its whole life since.
    expect(await audit.recent(user42, '7', 10)).toEqual(steps(2, 1, 0))
    expect(await audit.recent(user42, '8', 10)).toEqual(steps(6, 4, 3, 2))
    expect(await audit.recent(user42, '8', 2)).toEqual(steps(6, 4))
    for (const [owner, id] of [
      [user42, '7'],
      [user42, '8'],
      [{ type: 'user', id: '43' }, '7'],
      [{ type: 'team', id: '42' }, '8'],
    ] as const) {
      expect(await audit.recent(owner, id, 20)).toEqual((await memory.recent(owner, id, 20)).map(stored))
    }
    // Another owner's events never appear, even about the same token id; nor do events with no owner.
    expect(await audit.recent({ type: 'user', id: '43' }, '8', 10)).toEqual([])
    expect(await audit.recent(user42, '99', 10)).toEqual([])
    expect(await audit.recent(user42, '7', 0)).toEqual([])
    const [first] = await audit.recent(user42, '7', 1)
    expect(first?.at).toBeInstanceOf(Date)
    expect(Object.isFrozen(first)).toBe(true)
    expect(errors).toEqual([])
  })

  it('includes in `recent` the events still waiting to be written', async () => {
    const audit = auditLog()
    audit.record(event({ action: 'created', at: second(0) }))
    audit.record(event({ action: 'revoked', at: second(1) }))
    expect((await audit.recent(user42, '7', 10)).map((e) => e.action)).toEqual(['revoked', 'created'])
  })

  it('orders events of the same millisecond by the order they were recorded, newest first', async () => {
    const audit = auditLog()
    for (const action of ['created', 'updated', 'revoked'] as const)
      audit.record(event({ action, at: second(0) }))
    expect((await audit.recent(user42, '7', 10)).map((e) => e.action)).toEqual([
      'revoked',
      'updated',
      'created',
    ])
  })

  it('writes 100 waiting events with one insert statement', async () => {
    const audit = auditLog()
    for (let i = 0; i < 100; i++) audit.record(event({ tokenId: String(i), at: second(i) }))
    database.statements.length = 0
    await audit.flush()
    const inserts = database.statements.filter((statement) => /^insert\b/i.test(statement))
    expect(inserts).toHaveLength(1)
    expect((await rows()).map((row) => row.tokenId)).toEqual(Array.from({ length: 100 }, (_, i) => String(i)))
  })

  it('writes a batch as soon as `batchSize` events wait, and no more than `batchSize` per statement', async () => {
    const audit = auditLog({ batchSize: 40 })
    for (let i = 0; i < 39; i++) audit.record(event({ tokenId: String(i) }))
    expect(await rowCount()).toBe(0)
    audit.record(event({ tokenId: '39' }))
    // No flush called and the delay is a minute away: the full batch goes by itself.
    await expect.poll(rowCount, { timeout: 10_000 }).toBe(40)

    database.statements.length = 0
    for (let i = 0; i < 30; i++) audit.record(event({ tokenId: `b${i}` }))
    await audit.flush()
    expect(await rowCount()).toBe(70)
    const inserts = database.statements.filter((statement) => /^insert\b/i.test(statement))
    expect(inserts).toHaveLength(1)
    expect(errors).toEqual([])
  })

  it('reports a failed write, keeps its events and writes them once the table is back', async () => {
    const audit = auditLog()
    audit.record(event({ action: 'created', at: second(0) }))
    audit.record(event({ action: 'revoked', at: second(1) }))
    await database.exec('alter table token_audit_log rename to token_audit_log_away')
    try {
      await audit.flush()
      expect(errors).toHaveLength(1)
      expect(errors[0]).toBeInstanceOf(StorageUnavailableError)
      expect(errors[0]?.message).toBe(
        'The audit log could not write 2 events; they wait for the next attempt.',
      )
      // Reading fails loudly too, as the token store does.
      await expect(audit.recent(user42, '7', 10)).rejects.toBeInstanceOf(StorageUnavailableError)
      audit.record(event({ action: 'authenticated', at: second(2) }))
    } finally {
      await database.exec('alter table token_audit_log_away rename to token_audit_log')
    }
    await audit.flush()
    expect((await rows()).map((row) => row.action)).toEqual(['created', 'revoked', 'authenticated'])
    expect((await audit.recent(user42, '7', 10)).map((e) => e.action)).toEqual([
      'authenticated',
      'revoked',
      'created',
    ])
  })

  it('reports the events it could not write before closing as dropped at close, not as an overflow', async () => {
    const audit = auditLog()
    audit.record(event({ action: 'created', at: second(0) }))
    audit.record(event({ action: 'revoked', at: second(1) }))
    await database.exec('alter table token_audit_log rename to token_audit_log_away')
    try {
      await audit.close()
    } finally {
      await database.exec('alter table token_audit_log_away rename to token_audit_log')
    }
    expect(errors.map((error) => error.message)).toEqual([
      'The audit log could not write 2 events; they wait for the next attempt.',
      'The audit log closed with 2 events it could not write; they were dropped.',
    ])
    expect(await rows()).toEqual([])
  })

  it('reports on the console by default in one line, without the events’ contents', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const audit = drizzleAuditLog(database.db, { flushDelay: 60_000 })
      logs.push(audit)
      const ip = '198.51.100.23'
      const userAgent = 'SecretAgent/1.0'
      audit.record(event({ ip, userAgent, tokenId: '123456', owner: { type: 'user', id: '987654' } }))
      await database.exec('alter table token_audit_log rename to token_audit_log_away')
      try {
        await audit.flush()
      } finally {
        await database.exec('alter table token_audit_log_away rename to token_audit_log')
      }
      expect(logged).toHaveBeenCalledTimes(1)
      const line = logged.mock.calls[0]?.join(' ') ?? ''
      expect(line).toMatch(/^@jetstream\/drizzle: The audit log could not write 1 events; .*\(42P01\)$/)
      expect(line).not.toContain('\n')
      for (const content of [ip, userAgent, '123456', '987654']) expect(line).not.toContain(content)
      await audit.flush()
      expect(await rowCount()).toBe(1)
    } finally {
      logged.mockRestore()
    }
  })

  it('keeps at most `maxPending` events, dropping the oldest, and reports how many', async () => {
    const audit = auditLog({ maxPending: 3 })
    for (let i = 1; i <= 5; i++) audit.record(event({ tokenId: String(i) }))
    await audit.flush()
    expect(errors.map((error) => error.message)).toEqual([
      'The audit log dropped 2 events: more than 3 waited to be written.',
    ])
    expect((await rows()).map((row) => row.tokenId)).toEqual(['3', '4', '5'])
  })

  it('holds the bound while the database fails, the events put back included', async () => {
    const audit = auditLog({ maxPending: 3 })
    await database.exec('alter table token_audit_log rename to token_audit_log_away')
    try {
      for (let i = 1; i <= 3; i++) audit.record(event({ tokenId: String(i) }))
      await audit.flush() // fails: 1, 2 and 3 wait again
      for (let i = 4; i <= 5; i++) audit.record(event({ tokenId: String(i) }))
      await audit.flush() // fails again, and reports the two oldest dropped
    } finally {
      await database.exec('alter table token_audit_log_away rename to token_audit_log')
    }
    await audit.flush()
    expect(errors.map((error) => error.message)).toEqual([
      'The audit log could not write 3 events; they wait for the next attempt.',
      'The audit log dropped 2 events: more than 3 waited to be written.',
      'The audit log could not write 3 events; they wait for the next attempt.',
    ])
    expect((await rows()).map((row) => row.tokenId)).toEqual(['3', '4', '5'])
  })

  it('drops and reports a batch the database refuses as data, rather than retry it forever', async () => {
    const audit = auditLog()
    await database.exec(`alter table token_audit_log add constraint no_bad_token check (token_id <> 'bad')`)
    try {
      audit.record(event({ tokenId: 'bad' }))
      audit.record(event({ tokenId: 'good' }))
      await audit.flush()
      audit.record(event({ tokenId: 'later' }))
      await audit.flush()
    } finally {
      await database.exec('alter table token_audit_log drop constraint no_bad_token')
    }
    expect(errors.map((error) => error.message)).toEqual([
      'The database refused a batch of 2 audit events; they were dropped.',
    ])
    expect((await rows()).map((row) => row.tokenId)).toEqual(['later'])
  })

  it('cuts what a client controls to the column sizes and removes NUL characters', async () => {
    const audit = auditLog()
    audit.record(
      event({
        ip: `2001:db8::${'f'.repeat(100)}`,
        userAgent: `Agent\0/${'x'.repeat(1_000)}`,
        tokenId: '7\0',
        owner: { type: `App\\Models\\${'U'.repeat(300)}`, id: '4\u00002' },
        actor: { type: 'user', id: 'a\0b' },
      }),
    )
    // Cut at 512 characters as varchar counts them (code points), so never half of an emoji's surrogate pair.
    audit.record(event({ action: 'updated', userAgent: `${'y'.repeat(511)}😀😀` }))
    // 255 characters in 257 UTF-16 units: kept whole, so these two owners stay two.
    const emojiOwner = (last: string) => ({ type: `${'A'.repeat(253)}😀${last}`, id: '42' })
    audit.record(event({ action: 'revoked', owner: emojiOwner('😀') }))
    audit.record(event({ action: 'revoked', owner: emojiOwner('😎'), tokenId: '8' }))
    await audit.flush()
    const [row, emoji] = await rows()
    expect(row?.ip).toHaveLength(64)
    expect(row?.userAgent).toBe(`Agent/${'x'.repeat(506)}`)
    expect(row?.tokenId).toBe('7')
    expect(row?.ownerType).toHaveLength(255)
    expect(row?.ownerId).toBe('42')
    expect(row?.actorId).toBe('ab')
    expect(emoji?.userAgent).toBe(`${'y'.repeat(511)}😀`)
    expect(await audit.recent(emojiOwner('😀'), '7', 10)).toHaveLength(1)
    expect(await audit.recent(emojiOwner('😀'), '8', 10)).toHaveLength(0)
    expect((await audit.recent(emojiOwner('😎'), '8', 10))[0]?.owner).toEqual(emojiOwner('😎'))
    // Read with the same cleaning, so the event is found by the values it was recorded with.
    const owner = { type: `App\\Models\\${'U'.repeat(300)}`, id: '4\u00002' }
    expect(await audit.recent(owner, '7\0', 10)).toHaveLength(1)
    expect(errors).toEqual([])
  })

  it('never throws from `record`: not on odd values, not after `close`', async () => {
    const audit = auditLog()
    expect(() => audit.record(null as unknown as AuditEvent)).not.toThrow()
    expect(errors.map((error) => error.message)).toEqual([
      'The audit log dropped an event it could not read.',
    ])
    audit.record(event({ at: new Date(Number.NaN), count: Number.NaN, tokenId: 'odd' }))
    audit.record(event({ count: 2.5e12, tokenId: 'big' }))
    audit.record(event({ tokenId: 'before close' }))
    await audit.close()
    expect(() => audit.record(event({ tokenId: 'after close' }))).not.toThrow()
    expect(() => audit.record(event({ tokenId: 'after close' }))).not.toThrow()
    await audit.flush()
    await audit.close()
    const written = await rows()
    expect(written.map((row) => row.tokenId)).toEqual(['odd', 'big', 'before close'])
    expect(written[0]?.at).toBeInstanceOf(Date)
    expect(written[0]?.count).toBeNull()
    expect(written[1]?.count).toBe(2_147_483_647)
    expect(errors.map((error) => error.message)).toEqual([
      'The audit log dropped an event it could not read.',
      'The audit log is closed: events recorded after close() are not written (this is reported once).',
    ])
  })

  it('keeps working when `onError` throws', async () => {
    const audit = drizzleAuditLog(database.db, {
      flushDelay: 60_000,
      maxPending: 1,
      onError: () => {
        throw new Error('reporter down')
      },
    })
    logs.push(audit)
    audit.record(event({ tokenId: '1' }))
    expect(() => audit.record(event({ tokenId: '2' }))).not.toThrow()
    await audit.flush()
    expect((await rows()).map((row) => row.tokenId)).toEqual(['2'])
  })
})

describe('drizzleAuditLog options', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await pgliteDatabase()
  }, 60_000)
  afterAll(async () => {
    await database.close()
  }, 30_000)

  it('refuses bad options when it is built, saying what is expected', () => {
    expect(() => drizzleAuditLog(database.db, { batchSize: 10_000 })).toThrow(MisconfigurationError)
    expect(() => drizzleAuditLog(database.db, { batchSize: 0 })).toThrow(/whole number from 1 to 5000/)
    expect(() => drizzleAuditLog(database.db, { maxPending: 0 })).toThrow(MisconfigurationError)
    expect(() => drizzleAuditLog(database.db, { flushDelay: -1 })).toThrow(MisconfigurationError)
    expect(() => drizzleAuditLog(database.db, { timeout: 0 })).toThrow(MisconfigurationError)
  })
})

describe('drizzleAuditLog reading a long trail', () => {
  let database: TestDatabase & { client: PGlite }
  beforeAll(async () => {
    database = await pgliteDatabase()
    // One owner's 20,000 uses of 50 busy tokens; token 'rare' has two events, one the rotation that replaced 'old'.
    await database.exec(`insert into token_audit_log (action, at, owner_type, owner_id, token_id)
      select 'authenticated', now() - i * interval '1 second', 'user', '42', (i % 50)::text
      from generate_series(1, 20000) as i`)
    await database.exec(`insert into token_audit_log (action, at, owner_type, owner_id, token_id, previous_token_id)
      values ('rotated', now() - interval '3 days', 'user', '42', 'rare', 'old'),
        ('authenticated', now() - interval '2 days', 'user', '42', 'rare', null)`)
    await database.exec('analyze token_audit_log')
  }, 60_000)
  afterAll(async () => {
    await database.close()
  }, 30_000)

  it('finds a token’s few events through an index, not by reading the owner’s whole trail', async () => {
    const asked: { query: string; params: unknown[] }[] = []
    const logged = drizzlePglite(database.client, {
      logger: { logQuery: (query, params) => void asked.push({ query, params }) },
    })
    const audit = drizzleAuditLog(logged)
    try {
      for (const [id, found] of [
        ['rare', 2],
        ['old', 1],
        ['none', 0],
      ] as const) {
        asked.length = 0
        expect(await audit.recent(user42, id, 20)).toHaveLength(found)
        const [read] = asked
        if (!read) throw new Error('recent asked nothing')
        const plan = await database.client.query<{ 'QUERY PLAN': string }>(
          `explain ${read.query}`,
          read.params,
        )
        expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n'), id).not.toMatch(/Seq Scan/)
      }
    } finally {
      await audit.close()
    }
  })
})

describe.skipIf(!serverUrl)('drizzleAuditLog with the PostgreSQL server going away', () => {
  let database: TestDatabase & { schema: string }
  let proxy: DatabaseProxy
  let client: postgres.Sql
  beforeAll(async () => {
    database = await postgresJsDatabase(serverUrl as string)
    const url = new URL(serverUrl as string)
    proxy = await startProxy({ host: url.hostname, port: Number(url.port || 5432) })
    url.port = String(proxy.port)
    client = postgres(url.toString(), {
      max: 2,
      connect_timeout: 2,
      // A connection cut while postgres.js fetches its array types leaves that failure unhandled
      // (porsager/postgres#1192), which would fail the run; the store needs no fetched types.
      fetch_types: false,
      onnotice: () => {},
      connection: { search_path: database.schema },
    })
  }, 60_000)
  afterAll(async () => {
    await client.end({ timeout: 1 })
    await proxy.close()
    await database.close()
  }, 30_000)

  it('reports the failed writes, keeps the events, and writes them all once it is back', async () => {
    const errors: Error[] = []
    const audit = drizzleAuditLog(drizzle(client), {
      flushDelay: 60_000,
      timeout: 3_000,
      onError: (error) => errors.push(error),
    })
    try {
      audit.record(event({ tokenId: '1' }))
      await audit.flush()
      expect(errors).toEqual([])

      await proxy.down()
      audit.record(event({ tokenId: '2' }))
      audit.record(event({ tokenId: '3' }))
      await audit.flush()
      expect(errors.length).toBeGreaterThan(0)
      expect(errors[0]).toBeInstanceOf(StorageUnavailableError)
      expect(errors[0]?.message).toBe(
        'The audit log could not write 2 events; they wait for the next attempt.',
      )

      await proxy.up()
      audit.record(event({ tokenId: '4' }))
      // postgres.js reconnects by itself; each attempt fails fast until it has.
      const written = () =>
        audit.flush().then(() => database.db.select({ tokenId: tokenAuditLog.tokenId }).from(tokenAuditLog))
      await expect
        .poll(async () => (await written()).map((row) => row.tokenId).sort(), { timeout: 15_000 })
        .toEqual(['1', '2', '3', '4'])
    } finally {
      await audit.close()
    }
  })
})
