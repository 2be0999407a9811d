import { readdir, readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrate, migrations } from './migrate.js'
import { localAndServer, type TestDatabase } from './test-support/databases.js'

describe('migrations', () => {
  it('are, in order, the plain SQL files shipped in the package', async () => {
    const files = (await readdir(new URL('../migrations/', import.meta.url))).sort()
    expect(files).toEqual(migrations.map((migration) => `${migration.name}.sql`))
    for (const migration of migrations) {
      const file = await readFile(new URL(`../migrations/${migration.name}.sql`, import.meta.url), 'utf8')
      expect(file.split('--> statement-breakpoint').map((s) => s.trim())).toEqual([...migration.statements])
    }
  })
})

const backends = localAndServer()

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
