import { PGlite } from '@electric-sql/pglite'
import { createTokens, StorageUnavailableError } from '@jetstream/tokens'
import { bigint } from 'drizzle-orm/pg-core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { type PgliteClient, PgliteStatement } from './pglite-statement.js'
import { pgliteDatabase } from './test-support/databases.js'
import { tokenTableKeyedBy } from './test-support/tables.js'

describe('a request’s lookup on PGlite', () => {
  let database: Awaited<ReturnType<typeof pgliteDatabase>>
  beforeEach(async () => {
    database = await pgliteDatabase()
  })
  afterEach(() => database.close())

  function service() {
    return createTokens({ store: drizzleStore(database.db), lastUsed: false })
  }

  it('is parsed once, then only bound and run', async () => {
    const tokens = service()
    const { plainTextToken } = await tokens.create('42', 'CLI')
    database.parses.length = 0
    for (let i = 0; i < 5; i++) expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    expect(database.parses).toHaveLength(1)
    expect(database.statements.filter((s) => s.startsWith('select'))).toHaveLength(5)
  })

  it('is prepared again when the statement has been deallocated', async () => {
    const tokens = service()
    const { plainTextToken } = await tokens.create('42', 'CLI')
    await tokens.authenticate(plainTextToken)
    await database.client.exec('deallocate all')
    expect((await tokens.authenticate(plainTextToken))?.name).toBe('CLI')
    await database.client.exec('discard all')
    expect((await tokens.authenticate(plainTextToken))?.name).toBe('CLI')
  })

  it('waits for a transaction in progress instead of reading its uncommitted rows', async () => {
    const tokens = service()
    const { token, plainTextToken } = await tokens.create('42', 'CLI')
    let lookup: Promise<unknown> | undefined
    await database.client.transaction(async (tx) => {
      await tx.query('delete from personal_access_tokens where id = $1', [token.id])
      lookup = tokens.authenticate(plainTextToken)
      // Let the lookup reach PGlite while the delete is still uncommitted.
      await new Promise((resolve) => setTimeout(resolve, 20))
      await tx.rollback()
    })
    expect(await lookup).not.toBeNull()
  })

  it('reads the same instants whatever the session’s DateStyle and TimeZone', async () => {
    const tokens = createTokens({ store: drizzleStore(database.db), lastUsed: false, expiration: 60 })
    const { token, plainTextToken } = await tokens.create('42', 'CLI')
    await database.client.exec("set datestyle = 'German, DMY'; set timezone = 'Asia/Kolkata'")
    const found = await tokens.authenticate(plainTextToken)
    expect(found?.createdAt.getTime()).toBe(token.createdAt.getTime())
    expect(found?.expiresAt?.getTime()).toBe(token.expiresAt?.getTime())
  })

  it('keeps every digit of a bigint id past 2^53', async () => {
    await database.client.exec(`
      create table wide_tokens (like personal_access_tokens including all);
      alter table wide_tokens alter column id restart with 9007199254740993`)
    const wideTokens = tokenTableKeyedBy(
      'wide_tokens',
      bigint('id', { mode: 'bigint' }).primaryKey().generatedByDefaultAsIdentity(),
    )
    const tokens = createTokens({ store: drizzleStore(database.db, { table: wideTokens }), lastUsed: false })
    const { token, plainTextToken } = await tokens.create('42', 'CLI')
    expect(token.id).toBe('9007199254740993')
    expect((await tokens.authenticate(plainTextToken))?.id).toBe('9007199254740993')
  })

  it('finds by hash through a statement of its own', async () => {
    const tokens = service()
    const { plainTextToken } = await tokens.create('42', 'CLI')
    const secret = plainTextToken.slice(plainTextToken.indexOf('|') + 1)
    database.parses.length = 0
    expect((await tokens.authenticate(secret))?.name).toBe('CLI')
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    expect(database.parses.map((text) => text.slice(text.indexOf(' where ')))).toEqual([
      ' where "token" = $1',
      ' where "id" = $1',
    ])
  })

  it('reports a missing table as StorageUnavailableError, and works once the table is back', async () => {
    const tokens = service()
    const { plainTextToken } = await tokens.create('42', 'CLI')
    await database.client.exec('alter table personal_access_tokens rename to elsewhere')
    await expect(tokens.authenticate(plainTextToken)).rejects.toBeInstanceOf(StorageUnavailableError)
    await database.client.exec('alter table elsewhere rename to personal_access_tokens')
    expect((await tokens.authenticate(plainTextToken))?.name).toBe('CLI')
  })
})

describe('PgliteStatement', () => {
  let client: PGlite
  beforeEach(async () => {
    client = new PGlite()
    await client.exec(
      "create table t (id int primary key, name text); insert into t values (1, 'één'), (2, null)",
    )
  })
  afterEach(() => client.close())

  it('returns the first row as text, nulls as null, and undefined for no row', async () => {
    const statement = new PgliteStatement(
      client,
      'select id::text, name from t where name = $1 or id::text = $1',
    )
    expect(await statement.first('één')).toEqual(['1', 'één'])
    expect(await statement.first('2')).toEqual(['2', null])
    expect(await statement.first('3')).toBeUndefined()
  })

  it('is served through `query` by a client without the protocol methods', async () => {
    const texts: string[] = []
    const plain: PgliteClient = {
      query: (text, params, options) => {
        texts.push(text)
        return client.query(text, params, options)
      },
      exec: (text) => client.exec(text),
    }
    const statement = new PgliteStatement(plain, 'select id::text, name from t where id::text = $1')
    expect(await statement.first('1')).toEqual(['1', 'één'])
    expect(texts).toEqual(['select id::text, name from t where id::text = $1'])
  })

  it('passes a database error on, leaving the session usable', async () => {
    const statement = new PgliteStatement(client, 'select id::text from t where id = $1')
    await expect(statement.first('not a number')).rejects.toMatchObject({ code: '22P02' })
    expect(await statement.first('1')).toEqual(['1'])
    expect((await client.query<{ n: number }>('select 1 as n')).rows).toEqual([{ n: 1 }])
  })

  it('is prepared again when a column changes type under it', async () => {
    const statement = new PgliteStatement(client, 'select name from t where id = $1')
    expect(await statement.first('1')).toEqual(['één'])
    await client.exec('alter table t alter column name type varchar(10)')
    expect(await statement.first('1')).toEqual(['één'])
  })

  it('two statements with the same text on one database do not collide', async () => {
    const a = new PgliteStatement(client, 'select name from t where id = $1')
    const b = new PgliteStatement(client, 'select name from t where id = $1')
    expect(await a.first('1')).toEqual(['één'])
    expect(await b.first('1')).toEqual(['één'])
    expect(await a.first('1')).toEqual(['één'])
  })
})
