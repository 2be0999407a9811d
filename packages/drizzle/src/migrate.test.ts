import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrate, migrationStatements } from './migrate.js'
import { pgliteDatabase, postgresJsDatabase, serverUrl, type TestDatabase } from './test-support/databases.js'

describe('migrationStatements', () => {
  it('are the statements of the plain SQL migration shipped in the package', async () => {
    const file = await readFile(
      new URL('../migrations/0000_personal_access_tokens.sql', import.meta.url),
      'utf8',
    )
    expect(file.split('--> statement-breakpoint').map((s) => s.trim())).toEqual([...migrationStatements])
  })
})

const backends: [string, () => Promise<TestDatabase>][] = [['PGlite', pgliteDatabase]]
if (serverUrl) backends.push(['the PostgreSQL server', () => postgresJsDatabase(serverUrl as string)])

describe.each(backends)('migrate on %s', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open() // already migrated once
  })
  afterAll(() => database.close())

  it('can run again, and several times at once', async () => {
    await migrate(database.db)
    await Promise.all([migrate(database.db), migrate(database.db), migrate(database.db)])
  })
})
