import { entityKind } from 'drizzle-orm'
import type { AnyPgDatabase } from './drizzle-token-store.js'

/**
 * The driver under a drizzle database, read from the kind drizzle itself tags each database class with (the name
 * its own `is()` checks), so nothing is guessed from the client's shape. `null` for any other driver: it gets the
 * plain drizzle path and no change feed.
 *
 * @example
 * ```ts
 * driverOf(drizzle(new PGlite())) // 'pglite'
 * ```
 */
export function driverOf(db: AnyPgDatabase): 'postgres.js' | 'node-postgres' | 'pglite' | null {
  const kind = (db.constructor as { [entityKind]?: unknown })[entityKind]
  return kind === 'PostgresJsDatabase'
    ? 'postgres.js'
    : kind === 'NodePgDatabase'
      ? 'node-postgres'
      : kind === 'PgliteDatabase'
        ? 'pglite'
        : null
}
