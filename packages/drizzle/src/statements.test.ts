import { createTokens } from '@jetstream/tokens'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { localAndServer, type TestDatabase } from './test-support/databases.js'

const backends = localAndServer()

describe.each(backends)('statements sent to %s', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
  })
  afterAll(() => database.close())

  function service() {
    return createTokens({
      store: drizzleStore(database.db),
      lastUsed: { interval: 60_000, flushDelay: 60_000 },
    })
  }

  it('authenticate sends exactly one select by primary key, and no write', async () => {
    const tokens = service()
    const { plainTextToken } = await tokens.create('42', 'count me')
    await tokens.authenticate(plainTextToken)
    await tokens.close()
    database.statements.length = 0
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    expect(database.statements).toHaveLength(1)
    expect(database.statements[0]).toMatch(
      /^select "id", "tokenable_type", .* from "personal_access_tokens" where "personal_access_tokens"."id" = \$1$/,
    )
  })

  it('lookups asked together share statements, each answered with its own token', async () => {
    const tokens = service()
    const created = await Promise.all(
      Array.from({ length: 40 }, (_, i) => tokens.create('42', `together ${i}`)),
    )
    database.statements.length = 0
    const found = await Promise.all(created.map(({ plainTextToken }) => tokens.authenticate(plainTextToken)))
    expect(found.map((token) => token?.id)).toEqual(created.map(({ token }) => token.id))
    // One or two go alone (PGlite runs one query at a time, a server pool two); the rest wait and go together.
    expect(database.statements.length).toBeLessThanOrEqual(4)
    expect(database.statements.some((text) => text.endsWith('= any($1)'))).toBe(true)
    const wrong = `${created[0]?.token.id}|${created[1]?.plainTextToken.split('|')[1]}`
    const [refused, accepted] = await Promise.all([
      tokens.authenticate(wrong),
      tokens.authenticate(created[1]?.plainTextToken as string),
    ])
    expect(refused).toBeNull()
    expect(accepted?.id).toBe(created[1]?.token.id)
  })

  it('a plain text without its id sends one select by the unique hash', async () => {
    const tokens = service()
    const { plainTextToken } = await tokens.create('42', 'by hash')
    database.statements.length = 0
    expect(await tokens.authenticate(plainTextToken.slice(plainTextToken.indexOf('|') + 1))).not.toBeNull()
    expect(database.statements).toHaveLength(1)
    expect(database.statements[0]).toMatch(
      / from "personal_access_tokens" where "personal_access_tokens"."token" = \$1$/,
    )
  })

  it('a malformed token sends nothing', async () => {
    const tokens = service()
    database.statements.length = 0
    expect(await tokens.authenticate(`1|${'a'.repeat(48)}`)).toBeNull()
    expect(await tokens.authenticate("1' or '1'='1")).toBeNull()
    expect(database.statements).toHaveLength(0)
  })

  it('flushes the touches of many tokens in one UPDATE, each with its own time, in one parameter', async () => {
    const tokens = service()
    const created = await Promise.all(['a', 'b', 'c'].map((name) => tokens.create('42', name)))
    database.statements.length = 0
    for (const { plainTextToken } of created) await tokens.authenticate(plainTextToken)
    await tokens.close()
    const writes = database.statements.filter((s) => !s.startsWith('select'))
    expect(writes).toHaveLength(1)
    expect(writes[0]).toMatch(
      /^update "personal_access_tokens" set "last_used_at" = used."last_used_at" from json_populate_recordset\(null::"personal_access_tokens", \$1\) as used where "personal_access_tokens"."id" = used."id" and/,
    )
    for (const { token } of created) {
      expect((await tokens.list('42')).find((t) => t.id === token.id)?.lastUsedAt).toBeInstanceOf(Date)
    }
  })

  it('prunes with one DELETE', async () => {
    const tokens = createTokens({ store: drizzleStore(database.db), expiration: 60 })
    database.statements.length = 0
    await tokens.prune({ hours: 24 })
    expect(database.statements).toHaveLength(1)
    expect(database.statements[0]).toMatch(
      /^delete from "personal_access_tokens" where \("personal_access_tokens"."expires_at" < \$1 or "personal_access_tokens"."created_at" < \$2\)/,
    )
  })

  it('prunes through the expires_at index', async () => {
    const plan = await database.db.transaction(async (tx) => {
      // An almost empty table would be scanned whole; take that choice away to see whether an index path exists.
      await tx.execute(sql.raw('set local enable_seqscan = off'))
      const result = await tx.execute(
        sql.raw('explain delete from personal_access_tokens where expires_at < now()'),
      )
      return (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows)
        .map((row) => Object.values(row as object)[0])
        .join('\n')
    })
    expect(plan).toContain('personal_access_tokens_expires_at_index')
  })
})
