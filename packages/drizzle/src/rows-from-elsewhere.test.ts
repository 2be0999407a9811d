import { createTokens, MisconfigurationError } from '@jetstream/tokens'
import { bigint, serial } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { localAndServer, type TestDatabase } from './test-support/databases.js'
import { tokenTableKeyedBy } from './test-support/tables.js'

// Rows and tables as other hands make them (plain SQL, another app, a narrower custom table): whatever they hold,
// a lookup answers for its own token and fails no other.
describe.each(localAndServer())('rows written elsewhere, on %s', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
  }, 60_000)
  afterAll(() => database.close(), 60_000)

  const service = () => createTokens({ store: drizzleStore(database.db), lastUsed: false })

  it('takes an expiry of -infinity as passed and one of infinity as none', async () => {
    const tokens = service()
    const past = await tokens.create('42', 'minus infinity')
    const never = await tokens.create('42', 'infinity')
    await database.exec(`update personal_access_tokens set expires_at = '-infinity' where id = ${past.token.id};
      update personal_access_tokens set expires_at = 'infinity' where id = ${never.token.id}`)
    expect(await tokens.authenticate(past.plainTextToken)).toBeNull()
    const found = await tokens.authenticate(never.plainTextToken)
    expect(found).not.toBeNull()
    expect(found?.expiresAt).toBeNull()
    const listed = await tokens.list('42')
    expect(listed.find((token) => token.id === past.token.id)?.expiresAt?.getTime()).toBe(
      -8_640_000_000_000_000,
    )
    expect(listed.find((token) => token.id === never.token.id)?.expiresAt).toBeNull()
  })

  it('reads metadata that is no JSON object as none, rather than fail the lookup', async () => {
    const tokens = service()
    const made = await Promise.all(['string', 'array', 'number'].map((name) => tokens.create('7', name)))
    const values = [`'"x"'`, `'[1, 2]'`, `'3'`]
    for (const [i, { token }] of made.entries()) {
      await database.exec(
        `update personal_access_tokens set metadata = ${values[i]}::jsonb where id = ${token.id}`,
      )
    }
    for (const { plainTextToken } of made) {
      const found = await tokens.authenticate(plainTextToken)
      expect(found).not.toBeNull()
      expect(found?.metadata).toBeNull()
    }
    expect(await tokens.list('7')).toHaveLength(3)
  })

  it('finds nothing for an id past an integer column’s range, failing none of the lookups asked with it', async () => {
    await database.exec(`create table int_tokens (like personal_access_tokens);
      alter table int_tokens drop column id, add column id serial primary key`)
    const store = drizzleStore(database.db, {
      table: tokenTableKeyedBy('int_tokens', serial('id').primaryKey()),
    })
    const now = new Date()
    const stored = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        store.insert({
          owner: { type: 'user', id: '42' },
          name: `int ${i}`,
          abilities: [],
          tokenHash: String(i).repeat(64),
          expiresAt: null,
          createdAt: now,
          updatedAt: now,
        }),
      ),
    )
    const asked = [...stored.map((record) => record.id), '2147483648', '3000000000', '2147483647']
    const found = await Promise.all([...asked, ...asked].map((id) => store.findById(id)))
    const expected = [...stored.map((record) => record.name), undefined, undefined, undefined]
    expect(found.map((record) => record?.name)).toEqual([...expected, ...expected])
    const owner = { type: 'user', id: '42' }
    expect(await store.delete(owner, '3000000000')).toBe(false)
    expect(await store.update(owner, '3000000000', { name: 'x', updatedAt: now })).toBeNull()
  })

  it("refuses an id past 2^53 that a bigint column in `mode: 'number'` has rounded, rather than read another", async () => {
    await database.exec(`create table number_mode_tokens (like personal_access_tokens including all);
      alter table number_mode_tokens alter column id drop identity, alter column id type bigint;
      insert into number_mode_tokens (id, tokenable_type, tokenable_id, name, token, abilities, created_at, updated_at)
        values (9007199254740993, 'user', '7', 'far', repeat('f', 64), '[]', now(), now())`)
    const store = drizzleStore(database.db, {
      table: tokenTableKeyedBy('number_mode_tokens', bigint('id', { mode: 'number' }).primaryKey()),
    })
    // The id the row is asked by is one a number holds; the one read back (…993, rounded to …992) is not the same.
    const error = await Promise.resolve(store.findByHash('f'.repeat(64))).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(MisconfigurationError)
    expect((error as Error).message).toContain("mode: 'bigint'")
  })
})
