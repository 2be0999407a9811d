import { type AnyPgColumn, getTableConfig } from 'drizzle-orm/pg-core'
import type { AnyPgDatabase, TokenTable } from './drizzle-token-store.js'
import { type PgliteClient, PgliteStatement } from './pglite-statement.js'

/*
 * The lookup every authenticated request makes, sent through the driver that drizzle already holds
 * (`db.$client`) rather than through drizzle's query layer. Measured (bench/): drizzle's PGlite session passes a
 * `parsers` option with every query, which costs PGlite about 170 µs a query, as much as the query itself; on
 * postgres.js, drizzle's per-row mapping is a visible share of a loopback round trip. Unknown drivers use
 * drizzle's prepared statements instead.
 *
 * On PGlite the select is a statement prepared once and run by name (pglite-statement.ts). Elsewhere a timestamp
 * without time zone is read `at time zone 'UTC'`, as drizzle reads it, so no driver can take it for local time.
 */

/**
 * A token row as the direct lookup returns it, in column order: id, tokenable type, tokenable id, name, token,
 * abilities, last used at, expires at, created at, updated at. Values are as the driver decoded them.
 *
 * @example
 * ```ts
 * const row: DirectRow | undefined = lookup.row(await lookup.find('id', '7'))
 * ```
 */
export type DirectRow = readonly unknown[]

/**
 * Finds one row by id or by hash (the value already in the column's form): `find` returns the driver's own
 * promise and `row` takes the row out of its result, so a caller can decode and map errors in a single `then`.
 *
 * @example
 * ```ts
 * const found = directLookup(db, personalAccessTokens)?.find('token', hash)
 * ```
 */
export interface DirectLookup {
  find(by: 'id' | 'token', value: string): PromiseLike<unknown>
  row(result: unknown): DirectRow | undefined
  /** The rows of several ids (in the column's form, as text) in one statement; null where lookups are not batched. */
  readonly findIds: ((ids: readonly string[]) => PromiseLike<readonly DirectRow[]>) | null
}

interface PostgresJsClient {
  unsafe(query: string, params: unknown[], options: { prepare: boolean }): { values(): Promise<unknown[][]> }
}
interface NodePostgresClient {
  query(config: {
    name: string
    text: string
    values: unknown[]
    rowMode: 'array'
  }): Promise<{ rows: unknown[][] }>
}

/**
 * The driver under a drizzle database, as far as the store needs to know it.
 *
 * @example
 * ```ts
 * if (driverOf(db) === 'pglite') console.log('in process')
 * ```
 */
export type Driver = 'postgres.js' | 'pglite' | 'node-postgres' | 'unknown'

/**
 * Which driver a drizzle database runs on, from the client drizzle keeps as `$client`.
 *
 * @example
 * ```ts
 * driverOf(drizzle(new PGlite())) // 'pglite'
 * ```
 */
export function driverOf(db: AnyPgDatabase): Driver {
  const client = (db as { $client?: unknown }).$client as Record<string, unknown> | undefined
  if (!client || (typeof client !== 'object' && typeof client !== 'function')) return 'unknown'
  if (typeof client.unsafe === 'function') return 'postgres.js'
  if (typeof client.query === 'function' && typeof client.exec === 'function') return 'pglite'
  if (typeof client.query === 'function') return 'node-postgres'
  return 'unknown'
}

/**
 * A lookup through the database's own driver, or null when the driver is not one of postgres.js, PGlite or
 * node-postgres.
 *
 * @example
 * ```ts
 * const lookup = directLookup(db, personalAccessTokens)
 * const row = lookup?.row(await lookup.find('id', '7'))
 * ```
 */
export function directLookup(db: AnyPgDatabase, table: TokenTable): DirectLookup | null {
  const driver = driverOf(db)
  if (driver === 'unknown') return null
  const client = (db as { $client?: unknown }).$client
  const { name, schema } = getTableConfig(table)
  const from = schema ? `${quote(schema)}.${quote(name)}` : quote(name)
  const columns = [
    table.id,
    table.tokenableType,
    table.tokenableId,
    table.name,
    table.token,
    table.abilities,
    table.lastUsedAt,
    table.expiresAt,
    table.createdAt,
    table.updatedAt,
  ]
  const withoutTimeZone = (column: AnyPgColumn) =>
    (column as { withTimezone?: boolean }).withTimezone === false
  // The same select, once by id and once by hash.
  const lookups = (select: string) => ({
    id: `${select} from ${from} where ${quote(table.id.name)} = $1`,
    token: `${select} from ${from} where ${quote(table.token.name)} = $1`,
  })

  if (driver === 'pglite') {
    const lite = client as unknown as PgliteClient
    // Every value as text: ids keep every digit past 2^53, and timestamps come as milliseconds since the epoch,
    // whatever the session's DateStyle or TimeZone; a timestamp without time zone is UTC, as drizzle writes it.
    const values = columns.map((column, index) =>
      TIMESTAMPS.includes(index)
        ? `(extract(epoch from ${quote(column.name)}) * 1000)`
        : (column === table.id || column === table.tokenableId) && column.dataType !== 'string'
          ? `${quote(column.name)}::text`
          : quote(column.name),
    )
    const queries = lookups(`select ${values.join(', ')}`)
    const statements = {
      id: new PgliteStatement(lite, queries.id),
      token: new PgliteStatement(lite, queries.token),
    }
    return {
      find: (by, value) => statements[by].first(value),
      // In process there is no round trip to share.
      findIds: null,
      row: (result) => {
        if (!result) return undefined
        const row = [...(result as readonly unknown[])]
        for (const index of TIMESTAMPS) if (row[index] !== null) row[index] = Number(row[index])
        return row
      },
    }
  }

  const select = `select ${columns
    .map((column) =>
      withoutTimeZone(column) ? `(${quote(column.name)} at time zone 'UTC')` : quote(column.name),
    )
    .join(', ')}`
  const queries = lookups(select)
  // Several ids at once (lookup-batch.ts), as one array literal. Rows are matched back to lookups by their id, so
  // an element the cast shortens (a varchar column) can only fetch a row no lookup takes.
  const idType = table.id.getSQLType()
  const byIds = `${select} from ${from} where ${quote(table.id.name)} = any($1::${arrayTypeOf(idType)})`
  if (driver === 'postgres.js') {
    const sql = client as unknown as PostgresJsClient
    return {
      find: (by, value) => sql.unsafe(queries[by], [value], { prepare: true }).values(),
      findIds: (ids) => sql.unsafe(byIds, [arrayLiteral(ids)], { prepare: true }).values(),
      row: first,
    }
  }
  {
    const pg = client as unknown as NodePostgresClient
    const prefix = `jetstream_tokens_${schema ?? ''}_${name}`
    const names = { id: `${prefix}_by_id`, token: `${prefix}_by_token`, ids: `${prefix}_by_ids` }
    return {
      find: (by, value) =>
        pg.query({ name: names[by], text: queries[by], values: [value], rowMode: 'array' }),
      findIds: (ids) =>
        pg
          .query({ name: names.ids, text: byIds, values: [arrayLiteral(ids)], rowMode: 'array' })
          .then((result) => result.rows),
      row: firstOfResult,
    }
  }
}

/** Where last used, expires, created and updated at sit in a row. */
const TIMESTAMPS: readonly number[] = [6, 7, 8, 9]

// A serial column's values are of the plain integer type; there is no `serial[]`.
const SERIAL_TYPES: Readonly<Record<string, string>> = {
  smallserial: 'smallint',
  serial: 'integer',
  bigserial: 'bigint',
}

/**
 * The type of an array of a column's values, for `= any($1::…[])`: a serial column's are of its integer type.
 *
 * @example
 * ```ts
 * arrayTypeOf('bigserial') // 'bigint[]'
 * ```
 */
export function arrayTypeOf(sqlType: string): string {
  return `${SERIAL_TYPES[sqlType] ?? sqlType}[]`
}

// PostgreSQL's array literal, every element quoted: `{"7","8"}`.
function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`).join(',')}}`
}

function first(result: unknown): DirectRow | undefined {
  return (result as unknown[][])[0]
}

function firstOfResult(result: unknown): DirectRow | undefined {
  return (result as { rows: unknown[][] }).rows[0]
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`
}
