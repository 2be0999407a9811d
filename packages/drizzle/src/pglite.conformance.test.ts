import { testTokenStore } from '@jetstream/testing'
import { drizzleStore } from './drizzle-token-store.js'
import { pgliteDatabase, type TestDatabase } from './test-support/databases.js'

let database: TestDatabase

testTokenStore('DrizzleTokenStore on PGlite', {
  create: async () => {
    database = await pgliteDatabase()
    return drizzleStore(database.db)
  },
  reset: () => database.exec('truncate personal_access_tokens'),
  // In process there is no other connection to open: another store on the same database is the other instance.
  peer: () => drizzleStore(database.db),
  close: () => database.close(),
})
