import { PGlite } from '@electric-sql/pglite'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import type { TokenStore } from '@jetstream/tokens'
import { drizzle } from 'drizzle-orm/pglite'

/** The drizzle store on a fresh embedded PostgreSQL (PGlite), migrated: the real database every adapter tests on. */
export async function pgliteStore(): Promise<{ store: TokenStore; close(): Promise<void> }> {
  const client = new PGlite()
  const db = drizzle(client)
  await migrate(db)
  return { store: drizzleStore(db), close: () => client.close() }
}
