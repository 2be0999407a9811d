import { testTokenStore } from '@jetstream/testing'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import {
  nodePostgresDatabase,
  postgresJsDatabase,
  serverUrl,
  type TestDatabase,
} from './test-support/databases.js'

if (serverUrl) {
  const url = serverUrl
  for (const [driver, open] of [
    ['postgres.js', () => postgresJsDatabase(url)],
    // The README's advice against postgres.js's fault in fetching types: the store needs none of them.
    ['postgres.js with fetch_types: false', () => postgresJsDatabase(url, { fetch_types: false })],
    ['node-postgres', () => nodePostgresDatabase(url)],
  ] as const) {
    let database: TestDatabase & { schema: string }
    let peer: postgres.Sql | undefined
    testTokenStore(`DrizzleTokenStore on the PostgreSQL server through ${driver}`, {
      create: async () => {
        database = await open()
        return drizzleStore(database.db)
      },
      reset: () => database.exec('truncate personal_access_tokens'),
      // A second instance: its own postgres.js connections to the same schema.
      peer: () => {
        peer ??= postgres(url, { onnotice: () => {}, connection: { search_path: database.schema } })
        return drizzleStore(drizzle(peer))
      },
      close: async () => {
        await peer?.end({ timeout: 1 })
        await database.close()
      },
    })
  }
} else {
  it.skip('runs the conformance suite on the PostgreSQL server when DATABASE_URL is set', () => {})
}
