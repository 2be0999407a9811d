export type { AnyPgDatabase, DrizzleStoreOptions, TokenTable } from './drizzle-token-store.js'
export { DrizzleTokenStore, drizzleStore } from './drizzle-token-store.js'
export { migrate, migrationStatements } from './migrate.js'
export { personalAccessTokens } from './schema.js'
