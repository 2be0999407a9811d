import { createHash, randomInt } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { PGlite } from '@electric-sql/pglite'
import { createTokens, InvalidInputError } from '@jetstream/tokens'
import { sql } from 'drizzle-orm'
import { bigint, bigserial, getTableConfig, pgTable, text, timestamp, varchar } from 'drizzle-orm/pg-core'
import { drizzle } from 'drizzle-orm/pglite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { personalAccessTokens } from './schema.js'
import { pgliteDatabase, postgresJsDatabase, serverUrl, type TestDatabase } from './test-support/databases.js'

// Laravel's Str::random(40) and Sanctum 4's createToken(): entropy, its crc32b, sha256 of both at rest.
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
function sanctumSecret(prefix = ''): string {
  const entropy = Array.from({ length: 40 }, () => ALNUM[randomInt(62)]).join('')
  return prefix + entropy + crc32(entropy).toString(16).padStart(8, '0')
}
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

function rows(result: unknown): Record<string, unknown>[] {
  return (Array.isArray(result) ? result : (result as { rows: Record<string, unknown>[] }).rows) as Record<
    string,
    unknown
  >[]
}

const backends: [string, () => Promise<TestDatabase>][] = [['PGlite', pgliteDatabase]]
if (serverUrl) backends.push(['the PostgreSQL server', () => postgresJsDatabase(serverUrl as string)])

describe.each(backends)('Laravel Sanctum interop on %s', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
  })
  afterAll(() => database.close())

  it('authenticates a row written exactly as Sanctum writes it, with the plain text Sanctum showed', async () => {
    const secret = sanctumSecret()
    // Eloquent's insert for $user->createToken('Laravel token', ['read', 'update']).
    const inserted = rows(
      await database.db.execute(sql`insert into "personal_access_tokens"
        ("name", "token", "abilities", "expires_at", "tokenable_id", "tokenable_type", "updated_at", "created_at")
        values (${'Laravel token'}, ${sha256(secret)}, ${'["read","update"]'}, ${null}, ${1},
                ${'App\\Models\\User'}, ${'2026-06-01 12:00:00'}, ${'2026-06-01 12:00:00'})
        returning "id"`),
    )
    const plainTextToken = `${inserted[0]?.id}|${secret}`

    const tokens = createTokens({
      store: drizzleStore(database.db),
      ownerType: 'App\\Models\\User',
      lastUsed: false,
    })
    const token = await tokens.authenticate(plainTextToken)
    expect(token?.owner).toEqual({ type: 'App\\Models\\User', id: '1' })
    expect(token?.name).toBe('Laravel token')
    expect(token?.can('read')).toBe(true)
    expect(token?.can('update')).toBe(true)
    expect(token?.cant('delete')).toBe(true)
    expect((await tokens.authenticate(secret))?.id).toBe(token?.id)
    expect((await tokens.list(1)).map((t) => t.id)).toContain(token?.id)
  })

  it('issues tokens Sanctum accepts: same format, same hash', async () => {
    const tokens = createTokens({
      store: drizzleStore(database.db),
      ownerType: 'App\\Models\\User',
      prefix: 'acme_',
    })
    const { plainTextToken } = await tokens.create(1, 'From Node', ['read'])

    // Sanctum 4's PersonalAccessToken::findToken, step by step.
    const [id, secret] = plainTextToken.split('|', 2) as [string, string]
    expect(secret).toMatch(/^acme_[A-Za-z0-9]{40}[0-9a-f]{8}$/)
    expect(crc32(secret.slice(5, 45)).toString(16).padStart(8, '0')).toBe(secret.slice(45))
    const stored = rows(
      await database.db.execute(sql`select * from "personal_access_tokens" where "id" = ${id}`),
    )[0]
    expect(stored?.token).toBe(sha256(secret)) // hash_equals($instance->token, hash('sha256', $token))
    expect(stored?.tokenable_type).toBe('App\\Models\\User')
    expect(stored?.tokenable_id).toBe('1')
    expect(JSON.parse(String(stored?.abilities))).toEqual(['read']) // the abilities cast: a JSON array as text
    const byHash = rows(
      await database.db.execute(
        sql`select "id" from "personal_access_tokens" where "token" = ${sha256(secret)}`,
      ),
    )
    expect(String(byHash[0]?.id)).toBe(id)
  })
})

describe('a table shaped exactly as Laravel migrates it (bigint tokenable_id, timestamp(0) without time zone)', () => {
  // Laravel 11's PostgreSQL grammar output for Sanctum's create_personal_access_tokens_table migration.
  const laravelMigration = `
    create table "personal_access_tokens" ("id" bigserial not null primary key, "tokenable_type" varchar(255) not null,
      "tokenable_id" bigint not null, "name" text not null, "token" varchar(64) not null, "abilities" text null,
      "last_used_at" timestamp(0) without time zone null, "expires_at" timestamp(0) without time zone null,
      "created_at" timestamp(0) without time zone null, "updated_at" timestamp(0) without time zone null);
    create index "personal_access_tokens_tokenable_type_tokenable_id_index" on "personal_access_tokens" ("tokenable_type", "tokenable_id");
    alter table "personal_access_tokens" add constraint "personal_access_tokens_token_unique" unique ("token");
    create index "personal_access_tokens_expires_at_index" on "personal_access_tokens" ("expires_at");`

  const laravelTokens = pgTable('personal_access_tokens', {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tokenableType: varchar('tokenable_type', { length: 255 }).notNull(),
    tokenableId: bigint('tokenable_id', { mode: 'number' }).notNull(),
    name: text('name').notNull(),
    token: varchar('token', { length: 64 }).notNull().unique(),
    abilities: text('abilities'),
    lastUsedAt: timestamp('last_used_at', { precision: 0 }),
    expiresAt: timestamp('expires_at', { precision: 0 }),
    createdAt: timestamp('created_at', { precision: 0 }),
    updatedAt: timestamp('updated_at', { precision: 0 }),
  })

  let client: PGlite
  let db: ReturnType<typeof drizzle>
  beforeAll(async () => {
    client = new PGlite()
    await client.exec(laravelMigration)
    db = drizzle(client)
  })
  afterAll(() => client.close())

  it('creates, authenticates, lists, updates and revokes with numeric user ids', async () => {
    const tokens = createTokens({
      store: drizzleStore(db, { table: laravelTokens }),
      ownerType: 'App\\Models\\User',
    })
    const { token, plainTextToken } = await tokens.create(7, 'shared table', ['read'])
    const found = await tokens.authenticate(plainTextToken)
    expect(found?.owner).toEqual({ type: 'App\\Models\\User', id: '7' })
    expect(found?.createdAt.getMilliseconds()).toBe(0) // timestamp(0) keeps whole seconds
    expect((await tokens.list(7)).map((t) => t.id)).toEqual([token.id])
    expect((await tokens.update(7, token.id, { abilities: ['read', 'write'] }))?.abilities).toEqual([
      'read',
      'write',
    ])
    await tokens.close()
    expect(await tokens.revoke(7, token.id)).toBe(true)
    expect(await tokens.authenticate(plainTextToken)).toBeNull()
  })

  it('writes last_used_at on this table (its id is bigserial), with no error reported', async () => {
    const errors: unknown[] = []
    const tokens = createTokens({
      store: drizzleStore(db, { table: laravelTokens }),
      ownerType: 'App\\Models\\User',
      lastUsed: { flushDelay: 0 },
      on: { error: (error) => errors.push(error) },
    })
    const { token, plainTextToken } = await tokens.create(7, 'touched', ['read'])
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    await tokens.close() // flushes the coalesced touch
    expect(errors).toEqual([])
    const [row] = (
      await client.query<{ last_used_at: string | null }>(
        `select "last_used_at"::text from "personal_access_tokens" where "id" = $1`,
        [Number(token.id)],
      )
    ).rows
    expect(row?.last_used_at).not.toBeNull()
  })

  it('authenticates a row Sanctum wrote into it', async () => {
    const secret = sanctumSecret()
    const [row] = (
      await client.query<{ id: number }>(
        `insert into "personal_access_tokens" ("name", "token", "abilities", "tokenable_id", "tokenable_type", "updated_at", "created_at")
         values ('Laravel', $1, '["*"]', 9, 'App\\Models\\User', now(), now()) returning "id"`,
        [sha256(secret)],
      )
    ).rows
    const tokens = createTokens({
      store: drizzleStore(db, { table: laravelTokens }),
      ownerType: 'App\\Models\\User',
    })
    const found = await tokens.authenticate(`${row?.id}|${secret}`)
    expect(found?.can('anything')).toBe(true)
    expect(found?.owner.id).toBe('9')
  })

  it('reads timestamps without time zone as UTC, whatever the time zone of the process', async () => {
    const previous = process.env.TZ
    // UTC+14: an expiry an hour away, taken for local time, would have passed 13 hours ago.
    process.env.TZ = 'Pacific/Kiritimati'
    try {
      const secret = sanctumSecret()
      const [row] = (
        await client.query<{ id: number }>(
          `insert into "personal_access_tokens" ("name", "token", "abilities", "tokenable_id", "tokenable_type", "expires_at", "updated_at", "created_at")
           values ('Laravel', $1, '["read"]', 9, 'App\\Models\\User', (now() at time zone 'UTC') + interval '1 hour',
                   now() at time zone 'UTC', now() at time zone 'UTC') returning "id"`,
          [sha256(secret)],
        )
      ).rows
      const tokens = createTokens({ store: drizzleStore(db, { table: laravelTokens }), lastUsed: false })
      const found = await tokens.authenticate(`${row?.id}|${secret}`)
      expect(found).not.toBeNull()
      expect(Math.abs((found?.expiresAt?.getTime() ?? 0) - (Date.now() + 3_600_000))).toBeLessThan(5_000)
      expect(Math.abs((found?.createdAt.getTime() ?? 0) - Date.now())).toBeLessThan(5_000)
    } finally {
      if (previous === undefined) delete process.env.TZ
      else process.env.TZ = previous
    }
  })

  it('refuses an owner id the bigint column cannot hold, and finds nothing for one', async () => {
    const tokens = createTokens({ store: drizzleStore(db, { table: laravelTokens }) })
    await expect(tokens.create('not-a-number', 'x')).rejects.toBeInstanceOf(InvalidInputError)
    expect(await tokens.list('not-a-number')).toEqual([])
    expect(await tokens.revokeAll('not-a-number')).toBe(0)
  })
})

describe('the exported schema', () => {
  it("names the table, columns and indexes as Sanctum's migration does", () => {
    const config = getTableConfig(personalAccessTokens)
    expect(config.name).toBe('personal_access_tokens')
    expect(config.columns.map((c) => c.name).sort()).toEqual([
      'abilities',
      'created_at',
      'expires_at',
      'id',
      'last_used_at',
      'name',
      'token',
      'tokenable_id',
      'tokenable_type',
      'updated_at',
    ])
    expect(config.indexes.map((i) => i.config.name).sort()).toEqual([
      'personal_access_tokens_expires_at_index',
      'personal_access_tokens_tokenable_type_tokenable_id_index',
    ])
    expect(config.columns.find((c) => c.name === 'token')?.uniqueName).toBe(
      'personal_access_tokens_token_unique',
    )
  })
})
