import { createHash, randomInt } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { createTokens, InvalidInputError } from '@jetstream/tokens'
import { sql } from 'drizzle-orm'
import { bigint, bigserial, getTableConfig, pgTable, text, timestamp, varchar } from 'drizzle-orm/pg-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { personalAccessTokens } from './schema.js'
import {
  localAndServer,
  nodePostgresDatabase,
  pgliteDatabase,
  postgresJsDatabase,
  serverUrl,
  type TestDatabase,
} from './test-support/databases.js'

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

const backends = localAndServer()

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

// Laravel 11's PostgreSQL grammar output for Sanctum's create_personal_access_tokens_table migration.
const laravelMigration = `
  drop table if exists "personal_access_tokens" cascade;
  create table "personal_access_tokens" ("id" bigserial not null primary key, "tokenable_type" varchar(255) not null,
    "tokenable_id" bigint not null, "name" text not null, "token" varchar(64) not null, "abilities" text null,
    "last_used_at" timestamp(0) without time zone null, "expires_at" timestamp(0) without time zone null,
    "created_at" timestamp(0) without time zone null, "updated_at" timestamp(0) without time zone null);
  create index "personal_access_tokens_tokenable_type_tokenable_id_index" on "personal_access_tokens" ("tokenable_type", "tokenable_id");
  alter table "personal_access_tokens" add constraint "personal_access_tokens_token_unique" unique ("token");
  create index "personal_access_tokens_expires_at_index" on "personal_access_tokens" ("expires_at");`

const laravelTokens = pgTable('personal_access_tokens', {
  id: bigserial('id', { mode: 'bigint' }).primaryKey(),
  tokenableType: varchar('tokenable_type', { length: 255 }).notNull(),
  tokenableId: bigint('tokenable_id', { mode: 'bigint' }).notNull(),
  name: text('name').notNull(),
  token: varchar('token', { length: 64 }).notNull().unique(),
  abilities: text('abilities'),
  lastUsedAt: timestamp('last_used_at', { precision: 0 }),
  expiresAt: timestamp('expires_at', { precision: 0 }),
  createdAt: timestamp('created_at', { precision: 0 }),
  updatedAt: timestamp('updated_at', { precision: 0 }),
})

// The server's session and this process both far from UTC (UTC+14), as a Laravel app's database may be: Laravel
// writes its app time zone's wall time (UTC by default) into columns without a time zone.
const FAR_ZONE = 'Pacific/Kiritimati'
const laravelBackends: [string, () => Promise<TestDatabase>][] = [['PGlite', pgliteDatabase]]
if (serverUrl) {
  laravelBackends.push(
    ['postgres.js', () => postgresJsDatabase(serverUrl as string, { connection: { TimeZone: FAR_ZONE } })],
    ['node-postgres', () => nodePostgresDatabase(serverUrl as string, { TimeZone: FAR_ZONE })],
  )
}

describe.each(laravelBackends)('the table exactly as Laravel migrates it, on %s, far from UTC', (_, open) => {
  let database: TestDatabase
  let previousZone: string | undefined
  const query = async <T>(statement: ReturnType<typeof sql>) =>
    rows(await database.db.execute(statement)) as T[]
  const service = (options: Partial<Parameters<typeof createTokens>[0]> = {}) =>
    createTokens({
      store: drizzleStore(database.db, { table: laravelTokens }),
      ownerType: 'App\\Models\\User',
      ...options,
    })
  beforeAll(async () => {
    previousZone = process.env.TZ
    process.env.TZ = FAR_ZONE
    database = await open()
    await database.exec(laravelMigration)
  })
  afterAll(async () => {
    if (previousZone === undefined) delete process.env.TZ
    else process.env.TZ = previousZone
    await database.close()
  })

  it('creates, authenticates, lists, updates and revokes with numeric user ids', async () => {
    const tokens = service()
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

  it('stores an end or a use in whole seconds cut down, never rounded up past what was given', async () => {
    // Late in its second: PostgreSQL would round each of these times up to the next one.
    const now = Math.floor(Date.now() / 1_000) * 1_000 + 999
    const tokens = service({ now: () => new Date(now), lastUsed: { flushDelay: 0 } })
    const end = new Date(now + 3_600_000)
    const { token } = await tokens.create(7, 'late in its second', ['read'], { expiresAt: end })
    expect(token.expiresAt?.getTime()).toBe(end.getTime() - 999)
    const next = await tokens.rotate(7, token.id, { grace: 1 })
    expect(next?.token.expiresAt?.getTime()).toBe(end.getTime() - 999)
    const retired = (await tokens.list(7)).find((t) => t.id === token.id)
    expect(retired?.expiresAt?.getTime()).toBe(now + 60_000 - 999)
    expect(await tokens.authenticate(next?.plainTextToken ?? '')).not.toBeNull()
    await tokens.close() // flushes the touch
    const [row] = await query<{ last_used_at: string }>(
      sql`select "last_used_at"::text from "personal_access_tokens" where "id" = ${Number(next?.token.id)}`,
    )
    expect(new Date(`${row?.last_used_at}Z`).getTime()).toBe(now - 999)
  })

  it('writes last_used_at (its id is bigserial) as the UTC wall time of the use, with no error reported', async () => {
    const errors: unknown[] = []
    const tokens = service({ lastUsed: { flushDelay: 0 }, on: { error: (error) => errors.push(error) } })
    const { token, plainTextToken } = await tokens.create(7, 'touched', ['read'])
    const used = Date.now()
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    await tokens.close() // flushes the coalesced touch
    expect(errors).toEqual([])
    // What Laravel reads back: the wall time, as text, in its app time zone (UTC).
    const [row] = await query<{ last_used_at: string | null }>(
      sql`select "last_used_at"::text from "personal_access_tokens" where "id" = ${Number(token.id)}`,
    )
    expect(Math.abs(new Date(`${row?.last_used_at}Z`).getTime() - used)).toBeLessThan(2_000)
  })

  it('authenticates a row Sanctum wrote into it, and Sanctum finds a token issued here', async () => {
    const secret = sanctumSecret()
    const [row] = await query<{ id: number }>(
      sql`insert into "personal_access_tokens" ("name", "token", "abilities", "tokenable_id", "tokenable_type", "updated_at", "created_at")
          values ('Laravel', ${sha256(secret)}, '["*"]', 9, 'App\\Models\\User', now() at time zone 'UTC', now() at time zone 'UTC')
          returning "id"`,
    )
    const tokens = service()
    const found = await tokens.authenticate(`${row?.id}|${secret}`)
    expect(found?.can('anything')).toBe(true)
    expect(found?.owner.id).toBe('9')
    expect(Math.abs((found?.createdAt.getTime() ?? 0) - Date.now())).toBeLessThan(5_000)

    // Sanctum's findToken and its expiry check, on a token issued here: the hash matches, and the wall times it
    // reads as UTC are the instants written.
    const { token, plainTextToken } = await tokens.create(9, 'from Node', ['read'], {
      expiresAt: new Date(Date.now() + 3_600_000),
    })
    const [id, plain] = plainTextToken.split('|') as [string, string]
    const [stored] = await query<{ token: string; expires_at: string; created_at: string }>(
      sql`select "token", "expires_at"::text, "created_at"::text from "personal_access_tokens" where "id" = ${Number(id)}`,
    )
    expect(stored?.token).toBe(sha256(plain))
    expect(new Date(`${stored?.expires_at}Z`).getTime()).toBe(
      Math.floor((token.expiresAt?.getTime() ?? 0) / 1000) * 1000,
    )
    expect(Math.abs(new Date(`${stored?.created_at}Z`).getTime() - Date.now())).toBeLessThan(5_000)
  })

  it('reads an expiry Laravel wrote an hour ahead as an hour ahead, and one an hour ago as expired', async () => {
    const ahead = sanctumSecret()
    const behind = sanctumSecret()
    const insert = (secret: string, offset: string) =>
      query<{ id: number }>(
        sql`insert into "personal_access_tokens" ("name", "token", "abilities", "tokenable_id", "tokenable_type", "expires_at", "updated_at", "created_at")
            values ('Laravel', ${sha256(secret)}, '["read"]', 9, 'App\\Models\\User',
                    (now() at time zone 'UTC') + ${sql.raw(`interval '${offset}'`)}, now() at time zone 'UTC', now() at time zone 'UTC')
            returning "id"`,
      )
    const [live] = await insert(ahead, '1 hour')
    const [expired] = await insert(behind, '-1 hour')
    const tokens = service({ lastUsed: false })
    const found = await tokens.authenticate(`${live?.id}|${ahead}`)
    expect(Math.abs((found?.expiresAt?.getTime() ?? 0) - (Date.now() + 3_600_000))).toBeLessThan(5_000)
    expect(await tokens.authenticate(`${expired?.id}|${behind}`)).toBeNull()
  })

  it('prunes what Laravel wrote, and Laravel prunes what was written here, by the same instants', async () => {
    const tokens = service({ lastUsed: false })
    const mine = await tokens.create(9, 'expires soon', ['read'], { expiresAt: new Date(Date.now() + 1_000) })
    const [theirs] = await query<{ id: number }>(
      sql`insert into "personal_access_tokens" ("name", "token", "abilities", "tokenable_id", "tokenable_type", "expires_at", "updated_at", "created_at")
          values ('old', ${sha256(sanctumSecret())}, '[]', 9, 'App\\Models\\User',
                  (now() at time zone 'UTC') - interval '2 days', now() at time zone 'UTC', now() at time zone 'UTC')
          returning "id"`,
    )
    expect(await tokens.prune({ hours: 24 })).toBeGreaterThanOrEqual(1)
    const remaining = async () =>
      (await query<{ id: number }>(sql`select "id" from "personal_access_tokens"`)).map((row) =>
        String(row.id),
      )
    expect(await remaining()).not.toContain(String(theirs?.id))
    expect(await remaining()).toContain(mine.token.id)
    // sanctum:prune-expired --hours=0, a second after expiry: Laravel's own query on a token issued here.
    await new Promise((resolve) => setTimeout(resolve, 2_100))
    await query(sql`delete from "personal_access_tokens" where "expires_at" < now() at time zone 'UTC'`)
    expect(await remaining()).not.toContain(mine.token.id)
  })

  it('accepts a token Sanctum 2/3 issued (40 characters, no checksum) with legacyTokens, and not without', async () => {
    const secret = Array.from({ length: 40 }, () => ALNUM[randomInt(62)]).join('')
    const [row] = await query<{ id: number }>(
      sql`insert into "personal_access_tokens" ("name", "token", "abilities", "tokenable_id", "tokenable_type", "updated_at", "created_at")
          values ('Sanctum 3', ${sha256(secret)}, '["read"]', 9, 'App\\Models\\User', now() at time zone 'UTC', now() at time zone 'UTC')
          returning "id"`,
    )
    expect(await service({ lastUsed: false }).authenticate(`${row?.id}|${secret}`)).toBeNull()
    const found = await service({ lastUsed: false, legacyTokens: true }).authenticate(`${row?.id}|${secret}`)
    expect(found?.name).toBe('Sanctum 3')
  })

  it('regenerates a token with a grace period: both secrets work until it ends, with no schema change', async () => {
    let clock = Date.now()
    const tokens = service({ lastUsed: false, now: () => new Date(clock) })
    const old = await tokens.create(7, 'rotated', ['read'], { expiresAt: new Date(clock + 86_400_000) })
    const next = await tokens.rotate(7, old.token.id, { grace: 60 })
    expect(next?.token).toMatchObject({ name: 'rotated', abilities: ['read'] })
    expect(next?.token.expiresAt).toEqual(old.token.expiresAt) // as the timestamp(0) column keeps it
    expect(await tokens.authenticate(old.plainTextToken)).not.toBeNull()
    expect(await tokens.authenticate(next?.plainTextToken ?? '')).not.toBeNull()
    clock += 61 * 60_000
    expect(await tokens.authenticate(old.plainTextToken)).toBeNull()
    expect(await tokens.authenticate(next?.plainTextToken ?? '')).not.toBeNull()
  })

  it('refuses metadata with a 422 that names the missing column, and stores nothing', async () => {
    const tokens = service()
    const refused = await tokens
      .create(7, 'with metadata', ['read'], { metadata: { ci: true } })
      .catch((e) => e)
    expect(refused).toBeInstanceOf(InvalidInputError)
    expect(refused.status).toBe(422)
    expect(refused.errors.metadata[0]).toMatch(/no metadata column/)
    expect((await tokens.list(7)).map((t) => t.name)).not.toContain('with metadata')
  })

  it('refuses an owner id the bigint column cannot hold, and finds nothing for one', async () => {
    const tokens = service()
    await expect(tokens.create('not-a-number', 'x')).rejects.toBeInstanceOf(InvalidInputError)
    expect(await tokens.list('not-a-number')).toEqual([])
    expect(await tokens.revokeAll('not-a-number')).toBe(0)
  })
})

describe('the exported schema', () => {
  it("names the table, columns and indexes as Sanctum's migration does, plus a metadata column", () => {
    const config = getTableConfig(personalAccessTokens)
    expect(config.name).toBe('personal_access_tokens')
    expect(config.columns.map((c) => c.name).sort()).toEqual([
      'abilities',
      'created_at',
      'expires_at',
      'id',
      'last_used_at',
      'metadata',
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
