import {
  type ExpiredTokenCriteria,
  InvalidInputError,
  isTokenError,
  MisconfigurationError,
  type NewTokenRecord,
  StorageUnavailableError,
  type TokenChangeListener,
  type TokenChanges,
  type TokenOwner,
  type TokenRecord,
  type TokenStore,
} from '@jetstream/tokens'
import { and, eq, isNull, lt, ne, or, type SQL, sql } from 'drizzle-orm'
import type { AnyPgColumn, PgDatabase, PgQueryResultHKT, PgTable } from 'drizzle-orm/pg-core'
import { ChangeFeed } from './change-feed.js'
import { arrayTypeOf, type DirectLookup, type DirectRow, directLookup, driverOf } from './direct-lookup.js'
import { LookupBatch } from './lookup-batch.js'
import { personalAccessTokens } from './schema.js'
import { StatementDeadline } from './statement-deadline.js'

/**
 * Any drizzle PostgreSQL database: postgres.js, node-postgres, PGlite… with or without a schema. (drizzle types
 * the schema parameter per database; `any` is the one type every database object is assignable to.)
 */
// biome-ignore lint/suspicious/noExplicitAny: see above; the store never touches the relational query API.
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any>

/**
 * The columns a token table needs, by their property names in your `pgTable` definition. Column names and types
 * may differ: `tokenable_id` may be bigint, timestamps may lack a time zone, `abilities` may be json.
 *
 * @example
 * ```ts
 * const laravelTokens = pgTable('personal_access_tokens', {
 *   id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
 *   tokenableType: varchar('tokenable_type', { length: 255 }).notNull(),
 *   tokenableId: bigint('tokenable_id', { mode: 'number' }).notNull(),
 *   // …name, token, abilities, lastUsedAt, expiresAt, createdAt, updatedAt
 * }) satisfies TokenTable
 * ```
 */
export type TokenTable = PgTable & {
  readonly id: AnyPgColumn
  readonly tokenableType: AnyPgColumn
  readonly tokenableId: AnyPgColumn
  readonly name: AnyPgColumn
  readonly token: AnyPgColumn
  readonly abilities: AnyPgColumn
  readonly lastUsedAt: AnyPgColumn
  readonly expiresAt: AnyPgColumn
  readonly createdAt: AnyPgColumn
  readonly updatedAt: AnyPgColumn
}

/** Options of {@link drizzleStore}. */
export interface DrizzleStoreOptions {
  /** The token table; default {@link personalAccessTokens}. */
  readonly table?: TokenTable
  /**
   * Milliseconds a statement may take before the call fails with `StorageUnavailableError` (the service answers
   * 503 rather than hold the request). Default 5000. Not applied to an in-process PGlite, which cannot hang on a
   * network.
   */
  readonly timeout?: number
  /**
   * How often, in milliseconds, the change feed checks that its listening connection still delivers (a server
   * only; see `watch`). A dropped connection is noticed within about two intervals. Default 1000.
   */
  readonly probeInterval?: number
}

/**
 * A {@link TokenStore} on PostgreSQL through drizzle-orm: give it your drizzle database, whichever driver it
 * uses. Verification is one primary-key select (a prepared statement) and no write; on a server, concurrent
 * requests share that select (`where id = any($1)`) rather than each sending its own.
 *
 * @example
 * ```ts
 * import { drizzle } from 'drizzle-orm/postgres-js'
 * import postgres from 'postgres'
 *
 * const db = drizzle(postgres(process.env.DATABASE_URL))
 * const tokens = createTokens({ store: drizzleStore(db), permissions })
 * ```
 */
export function drizzleStore(db: AnyPgDatabase, options: DrizzleStoreOptions = {}): DrizzleTokenStore {
  return new DrizzleTokenStore(db, options)
}

/**
 * The store {@link drizzleStore} builds.
 *
 * @example
 * ```ts
 * const store: DrizzleTokenStore = drizzleStore(db, { timeout: 2_000 })
 * ```
 */
export class DrizzleTokenStore implements TokenStore {
  readonly #db: AnyPgDatabase
  readonly #table: TokenTable
  readonly #deadline: StatementDeadline | null
  readonly #columns: Record<ColumnKey, AnyPgColumn>
  readonly #id: Codec
  readonly #ownerId: Codec
  readonly #findById: PreparedLookup<{ id: unknown }>
  readonly #findByHash: PreparedLookup<{ hash: string }>
  readonly #direct: DirectLookup | null
  readonly #batch: LookupBatch | null
  /**
   * Reports changes made by anyone (this app, other instances, plain SQL such as a Laravel app sharing the table)
   * through the migration's triggers and LISTEN/NOTIFY, so a verification cache drops them at once. Absent when
   * the driver cannot listen.
   */
  readonly watch?: (listener: TokenChangeListener) => () => Promise<void>

  constructor(db: AnyPgDatabase, options: DrizzleStoreOptions = {}) {
    const table = options.table ?? personalAccessTokens
    const timeout = options.timeout ?? 5_000
    if (!(Number.isFinite(timeout) && timeout > 0)) {
      throw new MisconfigurationError('`timeout` is a number of milliseconds greater than 0.')
    }
    for (const key of COLUMN_KEYS) {
      if (!table[key]) throw new MisconfigurationError(`The token table has no \`${key}\` column.`)
    }
    this.#db = db
    this.#table = table
    // An in-process PGlite has no network to hang on; every other driver gets a deadline per statement.
    this.#deadline = driverOf(db) === 'pglite' ? null : new StatementDeadline(timeout)
    this.#columns = Object.fromEntries(COLUMN_KEYS.map((key) => [key, table[key]])) as Record<
      ColumnKey,
      AnyPgColumn
    >
    this.#id = codecFor(table.id)
    this.#ownerId = codecFor(table.tokenableId)
    this.#direct = directLookup(db, table)
    this.#batch = this.#batchFor(this.#direct)
    const feed = new ChangeFeed(db, { probeInterval: options.probeInterval ?? 1_000 })
    if (feed.supported && table === personalAccessTokens) this.watch = (listener) => feed.start(listener)
    // Prepared once: a request's lookup sends one statement and spends no time building SQL.
    const name = `jetstream_tokens_${tableName(table)}`
    this.#findById = db
      .select(this.#columns)
      .from(table)
      .where(eq(table.id, sql.placeholder('id')))
      .limit(1)
      .prepare(`${name}_find_by_id`) as unknown as PreparedLookup<{ id: unknown }>
    this.#findByHash = db
      .select(this.#columns)
      .from(table)
      .where(eq(table.token, sql.placeholder('hash')))
      .limit(1)
      .prepare(`${name}_find_by_hash`) as unknown as PreparedLookup<{ hash: string }>
  }

  /**
   * @example
   * ```ts
   * await store.insert({ owner, name: 'CLI', abilities: ['read'], tokenHash, expiresAt: null, createdAt: now, updatedAt: now })
   * ```
   */
  async insert(token: NewTokenRecord): Promise<TokenRecord> {
    const ownerId = this.#ownerId.encode(token.owner.id)
    if (ownerId === undefined) {
      throw new InvalidInputError({
        owner: [`The owner id must fit the table's ${this.#ownerId.sqlType} column.`],
      })
    }
    const t = this.#table
    const rows = await this.#run('insert', () =>
      this.#db
        .insert(t)
        .values({
          tokenableType: token.owner.type,
          tokenableId: ownerId,
          name: token.name,
          token: token.tokenHash,
          abilities: encodeAbilities(t.abilities, token.abilities),
          expiresAt: token.expiresAt && encodeDate(t.expiresAt, token.expiresAt),
          createdAt: encodeDate(t.createdAt, token.createdAt),
          updatedAt: encodeDate(t.updatedAt, token.updatedAt),
        })
        .returning(this.#columns),
    )
    return this.#record(rows[0])
  }

  /**
   * @example
   * ```ts
   * await store.findById('7')
   * ```
   */
  findById(id: string): Promise<TokenRecord | null> {
    // Promise chains rather than async functions on this path: every hop costs PGlite measurably (bench/).
    const value = this.#id.encode(id)
    if (value === undefined) return Promise.resolve(null)
    if (this.#batch) {
      return this.#batch.find(String(value)).then(directRecord, (error: unknown) => {
        throw storageError('find', error)
      })
    }
    if (this.#direct) return this.#directFind('id', String(value))
    return this.#run('find', () => this.#findById.execute({ id: value })).then((rows) =>
      rows.length === 0 ? null : this.#record(rows[0]),
    )
  }

  /**
   * @example
   * ```ts
   * await store.findByHash(sha256Hex)
   * ```
   */
  async findByHash(tokenHash: string): Promise<TokenRecord | null> {
    if (this.#direct) return this.#directFind('token', tokenHash)
    const rows = await this.#run('find', () => this.#findByHash.execute({ hash: tokenHash }))
    return rows.length === 0 ? null : this.#record(rows[0])
  }

  /**
   * @example
   * ```ts
   * await store.listByOwner({ type: 'user', id: '42' })
   * ```
   */
  async listByOwner(owner: TokenOwner): Promise<TokenRecord[]> {
    const where = this.#owned(owner)
    if (!where) return []
    const t = this.#table
    const rows = await this.#run('list', () =>
      this.#db
        .select(this.#columns)
        .from(t)
        .where(where)
        .orderBy(sql`${t.createdAt} desc`, sql`${t.id} desc`),
    )
    return rows.map((row) => this.#record(row))
  }

  /**
   * @example
   * ```ts
   * await store.update(owner, '7', { abilities: ['read'], updatedAt: new Date() })
   * ```
   */
  async update(owner: TokenOwner, id: string, changes: TokenChanges): Promise<TokenRecord | null> {
    const where = this.#ownedToken(owner, id)
    if (!where) return null
    const t = this.#table
    const set: Record<string, unknown> = { updatedAt: encodeDate(t.updatedAt, changes.updatedAt) }
    if (changes.name !== undefined) set.name = changes.name
    if (changes.abilities !== undefined) set.abilities = encodeAbilities(t.abilities, changes.abilities)
    const rows = await this.#run('update', () =>
      this.#db.update(t).set(set).where(where).returning(this.#columns),
    )
    return rows.length === 0 ? null : this.#record(rows[0])
  }

  /**
   * @example
   * ```ts
   * await store.delete(owner, '7') // true
   * ```
   */
  async delete(owner: TokenOwner, id: string): Promise<boolean> {
    const where = this.#ownedToken(owner, id)
    if (!where) return false
    const t = this.#table
    const rows = await this.#run('delete', () => this.#db.delete(t).where(where).returning({ id: t.id }))
    return rows.length > 0
  }

  /**
   * @example
   * ```ts
   * await store.deleteByOwner(owner, currentTokenId)
   * ```
   */
  async deleteByOwner(owner: TokenOwner, exceptId?: string): Promise<string[]> {
    const owned = this.#owned(owner)
    if (!owned) return []
    const t = this.#table
    const except = exceptId === undefined ? undefined : this.#id.encode(exceptId)
    const where = except === undefined ? owned : and(owned, ne(t.id, except))
    const rows = await this.#run('delete', () => this.#db.delete(t).where(where).returning({ id: t.id }))
    return rows.map((row) => String(row.id))
  }

  /**
   * One `UPDATE … WHERE id = ANY(…)` for the whole batch; never moves `lastUsedAt` backwards.
   *
   * @example
   * ```ts
   * await store.touch(['7', '8'], new Date())
   * ```
   */
  async touch(ids: readonly string[], at: Date): Promise<void> {
    // Ids are checked against the column's form, so the array literal holds only digits or word characters. One
    // statement text for every batch size; cast to the column's element type (there is no `bigserial[]`).
    const valid = ids.filter((id) => this.#id.encode(id) !== undefined)
    if (valid.length === 0) return
    const t = this.#table
    const when = encodeDate(t.lastUsedAt, at)
    const list = `{${valid.join(',')}}`
    await this.#run('touch', () =>
      this.#db
        .update(t)
        .set({ lastUsedAt: when })
        .where(
          and(
            sql`${t.id} = any(${list}::${sql.raw(arrayTypeOf(t.id.getSQLType()))})`,
            or(isNull(t.lastUsedAt), lt(t.lastUsedAt, when)),
          ),
        ),
    )
  }

  /**
   * One `DELETE`; the `expires_at` index finds the rows.
   *
   * @example
   * ```ts
   * await store.deleteExpired({ expiredBefore: new Date(Date.now() - 24 * 3600_000) })
   * ```
   */
  async deleteExpired(criteria: ExpiredTokenCriteria): Promise<number> {
    const t = this.#table
    const expired = lt(t.expiresAt, encodeDate(t.expiresAt, criteria.expiredBefore))
    const where = criteria.createdBefore
      ? or(expired, lt(t.createdAt, encodeDate(t.createdAt, criteria.createdBefore)))
      : expired
    const rows = await this.#run('prune', () => this.#db.delete(t).where(where).returning({ id: t.id }))
    return rows.length
  }

  #owned(owner: TokenOwner): SQL | undefined {
    const ownerId = this.#ownerId.encode(owner.id)
    if (ownerId === undefined) return undefined
    return and(eq(this.#table.tokenableType, owner.type), eq(this.#table.tokenableId, ownerId))
  }

  #ownedToken(owner: TokenOwner, id: string): SQL | undefined {
    const value = this.#id.encode(id)
    const owned = this.#owned(owner)
    if (value === undefined || !owned) return undefined
    return and(eq(this.#table.id, value), owned)
  }

  #record(row: unknown): TokenRecord {
    const r = row as Record<ColumnKey, unknown>
    return {
      id: String(r.id),
      owner: { type: String(r.tokenableType), id: String(r.tokenableId) },
      name: String(r.name),
      abilities: decodeAbilities(r.abilities),
      tokenHash: String(r.token),
      lastUsedAt: decodeDate(r.lastUsedAt),
      expiresAt: decodeDate(r.expiresAt),
      createdAt: decodeDate(r.createdAt) ?? new Date(0),
      updatedAt: decodeDate(r.updatedAt) ?? decodeDate(r.createdAt) ?? new Date(0),
    }
  }

  // One `then` both decodes and maps errors: on PGlite every promise hop costs measurably (bench/).
  #directFind(by: 'id' | 'token', value: string): Promise<TokenRecord | null> {
    const direct = this.#direct as DirectLookup
    let pending: PromiseLike<unknown>
    try {
      pending = this.#deadline
        ? this.#deadline.watch('find', () => direct.find(by, value))
        : direct.find(by, value)
    } catch (error) {
      return Promise.reject(storageError('find', error))
    }
    return Promise.resolve(pending).then(
      (result) => directRecord(direct.row(result)),
      (error: unknown) => {
        throw storageError('find', error)
      },
    )
  }

  // Lookups by id share round trips on a server (lookup-batch.ts); in process there is nothing to share.
  #batchFor(direct: DirectLookup | null): LookupBatch | null {
    const deadline = this.#deadline
    const findIds = direct?.findIds
    if (!direct || !findIds || !deadline) return null
    return new LookupBatch(
      {
        one: (key) =>
          deadline.watch('find', () => direct.find('id', key)).then((result) => direct.row(result)),
        many: (keys) => deadline.watch('find', () => findIds(keys)),
        key: (row) => String(row[0]),
      },
      {
        slots: BATCH_SLOTS,
        size: BATCH_SIZE,
        isTimeout: (error) => error instanceof StorageUnavailableError,
      },
    )
  }

  #run<T>(operation: string, query: () => PromiseLike<T>): Promise<T> {
    let pending: PromiseLike<T>
    try {
      pending = this.#deadline ? this.#deadline.watch(operation, query) : query()
    } catch (error) {
      return Promise.reject(storageError(operation, error))
    }
    return Promise.resolve(pending).catch((error: unknown) => {
      throw storageError(operation, error)
    })
  }
}

interface PreparedLookup<V> {
  execute(values: V): Promise<unknown[]>
}

type ColumnKey =
  | 'id'
  | 'tokenableType'
  | 'tokenableId'
  | 'name'
  | 'token'
  | 'abilities'
  | 'lastUsedAt'
  | 'expiresAt'
  | 'createdAt'
  | 'updatedAt'

const COLUMN_KEYS: readonly ColumnKey[] = [
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
]

/** Turns the core's string ids into what a column takes; `undefined` for an id the column could never hold. */
interface Codec {
  readonly sqlType: string
  encode(id: string): unknown
}

// Two lookups in flight at most, the others waiting to go together: measured best of 1, 2, 4 and 8 (bench/).
const BATCH_SLOTS = 2
// A bound on one statement's size; more waiting lookups go in further statements.
const BATCH_SIZE = 64

const MAX_BIGINT = 9_223_372_036_854_775_807n
// Canonical decimal only: `01` or `+1` is not token 1 (the core refuses them too; a direct caller may not).
const DIGITS = /^(?:0|[1-9][0-9]{0,18})$/

function codecFor(column: AnyPgColumn): Codec {
  const sqlType = column.getSQLType()
  switch (column.dataType) {
    case 'number':
      return {
        sqlType,
        encode: (id) => (DIGITS.test(id) && Number.isSafeInteger(Number(id)) ? Number(id) : undefined),
      }
    case 'bigint':
      return {
        sqlType,
        encode: (id) => (DIGITS.test(id) && BigInt(id) <= MAX_BIGINT ? BigInt(id) : undefined),
      }
    default:
      // uuid columns take a uuid only in the form PostgreSQL gives it back (lower case), so each token has one id;
      // text takes anything PostgreSQL can store, which is anything but a NUL.
      if (sqlType === 'uuid') {
        return {
          sqlType,
          encode: (id) => (/^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/.test(id) ? id : undefined),
        }
      }
      return { sqlType, encode: (id) => (id.includes('\0') ? undefined : id) }
  }
}

function tableName(table: TokenTable): string {
  const name = (table as unknown as Record<symbol, unknown>)[Symbol.for('drizzle:Name')]
  return typeof name === 'string' ? name.replace(/\W/g, '_') : 'tokens'
}

// Sanctum writes abilities as JSON text (`["read","update"]`); a json/jsonb column takes the list itself.
function encodeAbilities(column: AnyPgColumn, abilities: readonly string[]): unknown {
  return column.dataType === 'json' ? [...abilities] : JSON.stringify(abilities)
}

function decodeAbilities(value: unknown): string[] {
  let list = value
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value)
    } catch {
      return [] // unreadable abilities grant nothing
    }
  }
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : []
}

function directRecord(row: DirectRow | undefined): TokenRecord | null {
  if (!row) return null
  const createdAt = decodeDate(row[8]) ?? new Date(0)
  return {
    id: String(row[0]),
    owner: { type: String(row[1]), id: String(row[2]) },
    name: String(row[3]),
    tokenHash: String(row[4]),
    abilities: decodeAbilities(row[5]),
    lastUsedAt: decodeDate(row[6]),
    expiresAt: decodeDate(row[7]),
    createdAt,
    updatedAt: decodeDate(row[9]) ?? createdAt,
  }
}

function encodeDate(column: AnyPgColumn, date: Date): unknown {
  return column.dataType === 'date' ? date : date.toISOString()
}

// Drivers hand timestamps over as Date objects or as text with an offset (drizzle turns postgres.js's parsing off).
function decodeDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null
  if (value instanceof Date) return value
  return new Date(value as string)
}

// drizzle wraps driver errors in DrizzleQueryError, whose message lists the parameters (a token hash among them):
// keep only the driver's own error as the cause.
function storageError(operation: string, error: unknown): Error {
  if (isTokenError(error)) return error
  const cause = error instanceof Error && error.message.startsWith('Failed query:') ? error.cause : error
  const code = (cause as { code?: unknown } | null)?.code
  if (typeof code === 'string' && code.startsWith('22')) {
    // SQLSTATE class 22, data exception: a value the table's column cannot hold (a custom, narrower table).
    return new InvalidInputError({ token: [`The database refused a value: ${(cause as Error).message}`] })
  }
  return new StorageUnavailableError(`The database failed to ${operation}.`, { cause })
}
