import { entityKind } from 'drizzle-orm'
import type { AnyPgDatabase } from './drizzle-token-store.js'

type Driver = 'postgres.js' | 'node-postgres' | 'pglite'

// The kinds drizzle tags its database classes with (the names its own `is()` checks), by driver.
const DRIVERS = new Map<unknown, Driver>([
  ['PostgresJsDatabase', 'postgres.js'],
  ['NodePgDatabase', 'node-postgres'],
  ['PgliteDatabase', 'pglite'],
])

/**
 * The driver under a drizzle database, read from the kind drizzle itself tags each database class with, so nothing
 * is guessed from the client's shape. `null` for any other driver: it gets the plain drizzle path and no change
 * feed.
 *
 * @example
 * ```ts
 * driverOf(drizzle(new PGlite())) // 'pglite'
 * ```
 */
export function driverOf(db: AnyPgDatabase): Driver | null {
  return DRIVERS.get((db.constructor as { [entityKind]?: unknown })[entityKind]) ?? null
}
