import { createTokens } from '@jetstream/tokens'
import { bigserial, uuid, varchar } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type DrizzleTokenStore, drizzleStore } from './drizzle-token-store.js'
import { type BatchSource, LookupBatch } from './lookup-batch.js'
import {
  nodePostgresDatabase,
  postgresJsDatabase,
  serverUrl,
  type TestDatabase,
} from './test-support/databases.js'
import { tokenTableKeyedBy } from './test-support/tables.js'

interface Row {
  readonly key: string
}

/** A source whose every call waits until the test settles it, recording what was asked. */
function fakeSource() {
  const calls: { keys: readonly string[]; settle: (rows: Row[]) => void; fail: (error: unknown) => void }[] =
    []
  const call = (keys: readonly string[]) =>
    new Promise<Row[]>((settle, fail) => {
      calls.push({ keys, settle, fail })
    })
  const source: BatchSource<Row> = {
    one: (key) => call([key]).then((rows) => rows[0]),
    many: (keys) => call(keys),
    key: (row) => row.key,
  }
  const found = (keys: readonly string[], missing: readonly string[] = []) =>
    keys.filter((key) => !missing.includes(key)).map((key) => ({ key }))
  return { source, calls, found }
}

class Timeout extends Error {}
const options = { slots: 2, size: 3, isTimeout: (error: unknown) => error instanceof Timeout }
const settled = () => new Promise((resolve) => setImmediate(resolve))

describe('LookupBatch against a fake source', () => {
  it('sends a lookup that finds a free slot at once, alone', async () => {
    const { source, calls, found } = fakeSource()
    const many = vi.spyOn(source, 'many')
    const batch = new LookupBatch(source, options)
    const first = batch.find('1')
    const second = batch.find('2')
    expect(calls.map((call) => call.keys)).toEqual([['1'], ['2']])
    for (const call of calls) call.settle(found(call.keys))
    expect(await first).toEqual({ key: '1' })
    expect(await second).toEqual({ key: '2' })
    expect(many).not.toHaveBeenCalled()
  })

  it('with `gather`, holds every lookup until it flushes, then sends those asked meanwhile together', async () => {
    const { source, calls, found } = fakeSource()
    const flushes: (() => void)[] = []
    const batch = new LookupBatch(source, { ...options, slots: 1, gather: (flush) => flushes.push(flush) })
    const alone = batch.find('1')
    expect(calls).toHaveLength(0)
    expect(flushes).toHaveLength(1)
    flushes.shift()?.()
    expect(calls.map((call) => call.keys)).toEqual([['1']])
    // Asked while the first is in flight: they wait for it, whatever the flush says, then go as one.
    const together = ['2', '3', '4'].map((key) => batch.find(key))
    flushes.shift()?.()
    expect(calls).toHaveLength(1)
    calls[0]?.settle(found(['1']))
    expect(await alone).toEqual({ key: '1' })
    await settled()
    expect(calls.map((call) => call.keys)).toEqual([['1'], ['2', '3', '4']])
    calls[1]?.settle(found(['2', '3', '4'], ['3']))
    expect(await Promise.all(together)).toEqual([{ key: '2' }, undefined, { key: '4' }])
    expect(flushes).toHaveLength(0)
  })

  it('holds lookups past the slots until one frees, then sends them together, each matched by key', async () => {
    const { source, calls, found } = fakeSource()
    const batch = new LookupBatch(source, options)
    const answers = ['1', '2', '3', '4', '5'].map((key) => batch.find(key))
    await settled()
    expect(calls).toHaveLength(2)
    calls[0]?.settle(found(['1']))
    await settled()
    expect(calls[2]?.keys).toEqual(['3', '4', '5'])
    calls[1]?.settle(found(['2']))
    // The source answers in any order and leaves out a key it has no row for.
    calls[2]?.settle([{ key: '5' }, { key: '3' }])
    expect(await Promise.all(answers)).toEqual([
      { key: '1' },
      { key: '2' },
      { key: '3' },
      undefined,
      { key: '5' },
    ])
  })

  it('sends no more than `size` keys in one statement, and a lone waiter alone', async () => {
    const { source, calls, found } = fakeSource()
    const batch = new LookupBatch(source, options)
    const answers = ['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((key) => batch.find(key))
    for (let i = 0; i < 10 && calls.length < 5; i++) {
      for (const call of calls) call.settle(found(call.keys))
      await settled()
    }
    expect(calls.map((call) => call.keys)).toEqual([['a'], ['b'], ['c', 'd', 'e'], ['f', 'g']])
    await Promise.all(answers)
    const lone = fakeSource()
    const batch2 = new LookupBatch(lone.source, options)
    const three = ['x', 'y', 'z'].map((key) => batch2.find(key))
    lone.calls[0]?.settle(lone.found(['x']))
    await settled()
    expect(lone.calls.map((call) => call.keys)).toEqual([['x'], ['y'], ['z']])
    for (const call of lone.calls.slice(1)) call.settle(lone.found(call.keys))
    expect(await Promise.all(three)).toEqual([{ key: 'x' }, { key: 'y' }, { key: 'z' }])
  })

  it('fails every waiting lookup at once when a statement runs out of time, so none waits two timeouts', async () => {
    const { source, calls } = fakeSource()
    const batch = new LookupBatch(source, options)
    const answers = ['1', '2', '3', '4'].map((key) => batch.find(key).catch((error: unknown) => error))
    calls[0]?.fail(new Timeout('slow'))
    const [first, , third, fourth] = await Promise.all([
      answers[0],
      Promise.resolve(),
      answers[2],
      answers[3],
    ])
    expect(first).toBeInstanceOf(Timeout)
    expect(third).toBeInstanceOf(Timeout)
    expect(fourth).toBeInstanceOf(Timeout)
    calls[1]?.settle([{ key: '2' }])
    expect(await answers[1]).toEqual({ key: '2' })
  })

  it('fails only the lookups of a statement that failed otherwise; the waiting ones still go', async () => {
    const { source, calls, found } = fakeSource()
    const batch = new LookupBatch(source, options)
    const answers = ['1', '2', '3'].map((key) => batch.find(key).catch((error: unknown) => error))
    calls[0]?.fail(new Error('connection reset'))
    await settled()
    expect(calls[2]?.keys).toEqual(['3'])
    calls[1]?.settle(found(['2']))
    calls[2]?.settle(found(['3']))
    expect(await Promise.all(answers)).toEqual([new Error('connection reset'), { key: '2' }, { key: '3' }])
  })

  it('fails every lookup of a shared statement that failed, and frees its slot', async () => {
    const { source, calls, found } = fakeSource()
    const batch = new LookupBatch(source, options)
    const answers = ['1', '2', '3', '4'].map((key) => batch.find(key).catch((error: unknown) => error))
    // 1 and 2 go alone; 3 and 4 wait, then go together once a slot frees.
    calls[0]?.settle(found(['1']))
    await settled()
    expect(calls[2]?.keys).toEqual(['3', '4'])
    calls[2]?.fail(new Error('connection reset'))
    calls[1]?.settle(found(['2']))
    expect(await Promise.all(answers)).toEqual([
      { key: '1' },
      { key: '2' },
      new Error('connection reset'),
      new Error('connection reset'),
    ])
    const next = batch.find('5')
    expect(calls.at(-1)?.keys).toEqual(['5'])
    calls.at(-1)?.settle(found(['5']))
    expect(await next).toEqual({ key: '5' })
  })

  it('turns a shared statement that throws instead of rejecting into a rejection of each of its lookups', async () => {
    const { source, calls, found } = fakeSource()
    source.many = () => {
      throw new Error('not connected')
    }
    const batch = new LookupBatch(source, options)
    const answers = ['1', '2', '3', '4'].map((key) => batch.find(key).catch((error: unknown) => error))
    calls[0]?.settle(found(['1']))
    calls[1]?.settle(found(['2']))
    expect(await Promise.all(answers)).toEqual([
      { key: '1' },
      { key: '2' },
      new Error('not connected'),
      new Error('not connected'),
    ])
  })

  it('turns a source that throws instead of rejecting into a rejection, and frees its slot', async () => {
    const { source } = fakeSource()
    source.one = () => {
      throw new Error('not connected')
    }
    const batch = new LookupBatch(source, options)
    await expect(batch.find('1')).rejects.toThrow('not connected')
    await expect(batch.find('2')).rejects.toThrow('not connected')
    await settled()
    // Both slots are free again: the next lookup goes at once.
    const one = vi.fn((key: string) => Promise.resolve({ key }))
    source.one = one
    expect(await batch.find('3')).toEqual({ key: '3' })
    expect(one).toHaveBeenCalledOnce()
  })
})

// Registered either way, so a run without a server lists them as skipped (test-support/databases.ts says why).
const backends: [string, () => Promise<TestDatabase>][] = [
  ['postgres.js', () => postgresJsDatabase(serverUrl as string)],
  // Without the array types postgres.js fetches by default, it cannot send a JS array as an array parameter.
  ['postgres.js, fetch_types: false', () => postgresJsDatabase(serverUrl as string, { fetch_types: false })],
  ['node-postgres', () => nodePostgresDatabase(serverUrl as string)],
]

describe.skipIf(!serverUrl).each(backends)('lookups by id sharing round trips, %s', (driver, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
  })
  afterAll(() => database.close())

  it('gives each of many concurrent lookups its own answer, in fewer statements than lookups', async () => {
    const tokens = createTokens({ store: drizzleStore(database.db), lastUsed: false })
    const issued = await Promise.all(Array.from({ length: 20 }, (_, i) => tokens.create('42', `token ${i}`)))
    const revoked = await Promise.all(Array.from({ length: 5 }, (_, i) => tokens.create('42', `gone ${i}`)))
    await Promise.all(revoked.map(({ token }) => tokens.revoke('42', token.id)))
    const wrongSecret = (plain: string) =>
      `${plain.slice(0, plain.indexOf('|'))}|${revoked[0]?.plainTextToken.split('|')[1]}`
    const asked = [
      ...issued.map(({ plainTextToken, token }) => [plainTextToken, token.name] as const),
      ...issued.map(({ plainTextToken, token }) => [plainTextToken, token.name] as const),
      ...revoked.map(({ plainTextToken }) => [plainTextToken, null] as const),
      ...issued.slice(0, 5).map(({ plainTextToken }) => [wrongSecret(plainTextToken), null] as const),
    ]
    database.statements.length = 0
    const answers = await Promise.all(asked.map(([plain]) => tokens.authenticate(plain)))
    expect(answers.map((answer) => answer?.name ?? null)).toEqual(asked.map(([, name]) => name))
    if (driver.startsWith('postgres.js')) {
      expect(database.statements.some((statement) => statement.includes('= any($1)'))).toBe(true)
      expect(database.statements.length).toBeLessThan(asked.length)
    }
  })

  it('sees a revocation that resolved before the lookups were asked, batched or not', async () => {
    const tokens = createTokens({ store: drizzleStore(database.db), lastUsed: false })
    const others = await Promise.all(Array.from({ length: 10 }, (_, i) => tokens.create('42', `other ${i}`)))
    const { token, plainTextToken } = await tokens.create('42', 'revoked')
    const busy = others.map(({ plainTextToken: plain }) => tokens.authenticate(plain))
    expect(await tokens.revoke('42', token.id)).toBe(true)
    const after = await Promise.all(Array.from({ length: 20 }, () => tokens.authenticate(plainTextToken)))
    expect(after.every((answer) => answer === null)).toBe(true)
    expect((await Promise.all(busy)).every((answer) => answer !== null)).toBe(true)
  })

  it('matches uuid ids in their one form, lower case, and no other spelling', async () => {
    await database.exec(`create table uuid_tokens (like personal_access_tokens);
      alter table uuid_tokens drop column id, add column id uuid primary key default gen_random_uuid()`)
    const store = drizzleStore(database.db, {
      table: tokenTableKeyedBy('uuid_tokens', uuid('id').primaryKey().defaultRandom()),
    })
    const stored = await insertEight(store, 'uuid')
    const found = await Promise.all(
      stored.flatMap((record) => [store.findById(record.id), store.findById(record.id.toUpperCase())]),
    )
    expect(found.map((record) => record?.name ?? null)).toEqual(
      stored.flatMap((record) => [record.name, null]),
    )
  })

  it('shares lookups on a bigserial id, as a Laravel table has', async () => {
    await database.exec(`create table serial_tokens (like personal_access_tokens);
      alter table serial_tokens drop column id, add column id bigserial primary key`)
    const store = drizzleStore(database.db, {
      table: tokenTableKeyedBy('serial_tokens', bigserial('id', { mode: 'number' }).primaryKey()),
    })
    const stored = await insertEight(store, 'serial')
    const found = await Promise.all(stored.map((record) => store.findById(record.id)))
    expect(found.map((record) => record?.name)).toEqual(stored.map((record) => record.name))
  })

  it('matches text ids holding quotes, backslashes and commas exactly, never a longer id to a shorter one', async () => {
    const ids = ['a"b', 'c\\d', 'e,f', '{g}', 'h i', 'NULL', 'x'.repeat(40), 'x'.repeat(41)]
    await database.exec(`create table text_tokens (like personal_access_tokens);
      alter table text_tokens drop column id, add column id varchar(40) primary key`)
    for (const [i, id] of ids.slice(0, -1).entries()) {
      await database.exec(`insert into text_tokens (id, tokenable_type, tokenable_id, name, token, created_at, updated_at)
        values ('${id.replaceAll("'", "''")}', 'user', '42', 'text ${i}', '${String(i).repeat(64)}', now(), now())`)
    }
    const store = drizzleStore(database.db, {
      table: tokenTableKeyedBy('text_tokens', varchar('id', { length: 40 }).primaryKey()),
    })
    const found = await Promise.all([...ids, ...ids].map((id) => store.findById(id)))
    const expected = ids.map((_, i) => (i < ids.length - 1 ? `text ${i}` : undefined))
    expect(found.map((record) => record?.name)).toEqual([...expected, ...expected])
    expect(found.map((record) => record?.id)).toEqual([
      ...ids.slice(0, -1),
      undefined,
      ...ids.slice(0, -1),
      undefined,
    ])
  })
})

/** Eight tokens of user 42, stored at once, named `<prefix> 0` to `<prefix> 7`. */
function insertEight(store: DrizzleTokenStore, prefix: string) {
  const now = new Date()
  return Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      store.insert({
        owner: { type: 'user', id: '42' },
        name: `${prefix} ${i}`,
        abilities: [],
        tokenHash: String(i).repeat(64),
        expiresAt: null,
        createdAt: now,
        updatedAt: now,
      }),
    ),
  )
}
