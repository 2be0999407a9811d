import { MisconfigurationError, type TokenMetadata, type TokenRecord } from '@jetstream/tokens'
import { eq, type SQL, sql } from 'drizzle-orm'
import { type AnyPgColumn, getTableConfig } from 'drizzle-orm/pg-core'
import type { AnyPgDatabase, TokenTable } from './drizzle-token-store.js'

/** Every column a token table needs, as property names of its definition, in the order the select lists them. */
export const COLUMN_KEYS = [
  'id',
  'tokenableType',
  'tokenableId',
  'name',
  'token',
  'abilities',
  'lastUsedAt',
  'expiresAt',
  'createdAt',
  'updatedAt',
] as const

/** One of {@link COLUMN_KEYS}. */
export type ColumnKey = (typeof COLUMN_KEYS)[number]

/** A column a token table may lack (Laravel's has none): the store then refuses tokens that carry metadata. */
export type OptionalColumnKey = 'metadata'

/**
 * A token row as a query returns it, before {@link decodeRow}.
 *
 * @example
 * ```ts
 * const row: TokenRow | undefined = await queries.byId(7)
 * ```
 */
export type TokenRow = Readonly<Record<ColumnKey, unknown> & Partial<Record<OptionalColumnKey, unknown>>>

/**
 * What every statement of the store selects or returns: the table's columns, except that a timestamp without time
 * zone is read `at time zone 'UTC'` (drizzle writes them as UTC), so no driver can take it for local time, and an
 * `expires_at` of `infinity` (a row written by hand) is read as null: no expiry, which no Date could say.
 *
 * @example
 * ```ts
 * const rows = await db.select(selectionOf(table)).from(table)
 * ```
 */
export function selectionOf(table: TokenTable): Record<string, AnyPgColumn | SQL.Aliased> {
  const selection: Record<string, AnyPgColumn | SQL.Aliased> = {}
  const keys: readonly (ColumnKey | OptionalColumnKey)[] = table.metadata
    ? [...COLUMN_KEYS, 'metadata']
    : COLUMN_KEYS
  for (const key of keys) {
    const column = table[key] as AnyPgColumn
    const withoutTimeZone = column.columnType.startsWith('PgTimestamp') && !hasTimeZone(column)
    let value: SQL | null = key === 'expiresAt' ? sql`nullif(${column}, 'infinity')` : null
    if (withoutTimeZone) value = sql`(${value ?? column} at time zone 'UTC')`
    // Named as the column, so the statement (in a log, in pg_stat_activity) reads as a select of the table's columns.
    selection[key] = value === null ? column : value.as(column.name)
  }
  return selection
}

function hasTimeZone(column: AnyPgColumn): boolean {
  return (column as { withTimezone?: boolean }).withTimezone === true
}

/**
 * The one decoder: a row of any statement, on any driver, into the core's record. Ids and owner ids become text
 * (every digit past 2^53 kept, from a text, uuid or `mode: 'bigint'` column), abilities that are not a list of
 * strings grant nothing. An id past 2^53 that a `mode: 'number'` column has already rounded is refused with a
 * `MisconfigurationError`: read as another number, it could name another owner.
 *
 * @example
 * ```ts
 * const record = decodeRow(await queries.byId(7))
 * ```
 */
export function decodeRow(row: TokenRow): TokenRecord {
  if (!(exact(row.id) && exact(row.tokenableId))) {
    throw new MisconfigurationError(
      "A token row holds an id past 2^53, which a bigint column declared with `mode: 'number'` rounds: declare `id` and `tokenableId` with `mode: 'bigint'`.",
    )
  }
  const createdAt = decodeDate(row.createdAt) ?? new Date(0)
  const record: TokenRecord = {
    id: String(row.id),
    owner: { type: String(row.tokenableType), id: String(row.tokenableId) },
    name: String(row.name),
    abilities: decodeAbilities(row.abilities),
    tokenHash: String(row.token),
    lastUsedAt: decodeDate(row.lastUsedAt),
    expiresAt: decodeDate(row.expiresAt),
    createdAt,
    updatedAt: decodeDate(row.updatedAt) ?? createdAt,
  }
  const metadata = row.metadata == null ? undefined : decodeMetadata(row.metadata)
  return metadata === undefined ? record : { ...record, metadata }
}

// Whether an id as the driver gave it is the one stored: a number only while it is a safe integer.
function exact(value: unknown): boolean {
  return typeof value !== 'number' || Number.isSafeInteger(value)
}

// jsonb comes parsed from every driver except where drizzle turned its parsing off: then it is JSON text. What is
// not a JSON object (a row written by other hands) is no metadata, rather than a lookup that fails.
function decodeMetadata(value: unknown): TokenMetadata | undefined {
  let parsed = value
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value)
    } catch {
      return undefined
    }
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
    ? (parsed as TokenMetadata)
    : undefined
}

// Sanctum writes abilities as JSON text (`["read","update"]`); a json/jsonb column gives the list itself.
function decodeAbilities(value: unknown): string[] {
  let list = value
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value)
    } catch {
      return []
    }
  }
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []
}

// A Date from a driver that parses timestamps, or text with an offset where drizzle turns that parsing off. What
// no Date can hold (PostgreSQL's `-infinity`, and `infinity` but in `expires_at`, see `selectionOf`) is the
// earliest date there is, which fails closed: an expiry has passed, a creation is as old as any expiration.
function decodeDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null
  const date = value instanceof Date ? value : new Date(value as string)
  return Number.isNaN(date.getTime()) ? new Date(EARLIEST) : date
}

// The earliest instant a Date holds.
const EARLIEST = -8_640_000_000_000_000

/**
 * The reads of a request's verification, each prepared once: by id (the usual `{id}|{secret}`), by hash (a plain
 * text without its id), and by several ids at once (`= any($1)`, for {@link LookupBatch}). Ids are given in the
 * column's form (number, bigint or text).
 *
 * @example
 * ```ts
 * const queries = tokenQueries(db, personalAccessTokens)
 * const row = await queries.byId(7)
 * ```
 */
export interface TokenQueries {
  byId(id: unknown): Promise<TokenRow | undefined>
  byHash(hash: string): Promise<TokenRow | undefined>
  byIds(ids: readonly unknown[]): Promise<TokenRow[]>
  /**
   * Asks the server to stop these reads wherever they have run for more than `olderThan` milliseconds, whichever
   * process sent them (`pg_cancel_backend`, for the connection's own role, on its database).
   */
  cancelOverdue(olderThan: number): Promise<unknown>
}

interface Prepared {
  execute(values: Record<string, unknown>): Promise<TokenRow[]>
}

/**
 * Builds {@link TokenQueries} with drizzle: the same three statements on every driver, prepared by name unless
 * `prepare` is false.
 *
 * @example
 * ```ts
 * const queries = tokenQueries(drizzle(postgres(url)), personalAccessTokens)
 * ```
 */
export function tokenQueries(db: AnyPgDatabase, table: TokenTable, prepare = true): TokenQueries {
  const selection = selectionOf(table)
  const statements = {
    byId: db
      .select(selection)
      .from(table)
      .where(eq(table.id, sql.placeholder('value'))),
    byHash: db
      .select(selection)
      .from(table)
      .where(eq(table.token, sql.placeholder('value'))),
    byIds: db
      .select(selection)
      .from(table)
      .where(sql`${table.id} = any(${sql.placeholder('value')})`),
  }
  // node-postgres prepares by name on each connection; the name must differ per statement text. An empty name is
  // no name: the driver sends the text unnamed (other drivers ignore the name). Either way drizzle builds the text
  // once, here.
  const { schema, name: tableName } = getTableConfig(table)
  const name = `jetstream_tokens_${schema ?? ''}_${tableName}`.replace(/\W/g, '_')
  const run = (key: keyof typeof statements) => {
    const prepared = statements[key].prepare(prepare ? `${name}_${key}` : '') as unknown as Prepared
    return (value: unknown) => prepared.execute({ value })
  }
  const byId = run('byId')
  const byHash = run('byHash')
  const byIds = run('byIds')
  // The server shows each statement's text, whether prepared or not, so the texts find these reads.
  const texts = Object.values(statements).map((statement) => sql`${statement.toSQL().sql}`)
  return {
    byId: (id) => byId(id).then(first),
    byHash: (hash) => byHash(hash).then(first),
    byIds: (ids) => byIds(arrayLiteral(ids)),
    cancelOverdue: (olderThan) =>
      db.execute(sql`select pg_cancel_backend(pid) from pg_stat_activity
        where datname = current_database() and usename = session_user and pid <> pg_backend_pid()
          and state = 'active' and query in (${sql.join(texts, sql`, `)})
          and query_start < clock_timestamp() - make_interval(secs => ${olderThan / 1000})`),
  }
}

// The ids as one PostgreSQL array literal, sent as text: the server reads it as the type `= any($1)` asks for (the
// id column's array). A JS array would depend on the driver knowing that array type, which postgres.js does not
// with `fetch_types: false`: it sent `5,8,20` and the server refused it. Every element quoted, so any text id fits.
function arrayLiteral(ids: readonly unknown[]): string {
  return `{${ids.map((id) => `"${String(id).replace(/[\\"]/g, '\\$&')}"`).join(',')}}`
}

function first(rows: readonly TokenRow[]): TokenRow | undefined {
  return rows[0]
}
