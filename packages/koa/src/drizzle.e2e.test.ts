import { PGlite } from '@electric-sql/pglite'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import { endToEnd } from '@jetstream/http-scenarios'
import { drizzle } from 'drizzle-orm/pglite'
import { startScenarioApp } from './test-support/scenario-app.js'

endToEnd('Koa', startScenarioApp, async () => {
  const client = new PGlite()
  const db = drizzle(client)
  await migrate(db)
  return { store: drizzleStore(db), close: () => client.close() }
})
