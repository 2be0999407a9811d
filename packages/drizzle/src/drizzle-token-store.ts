import {
  DriverError,
  type ExpiredTokenCriteria,
  hasAbilities,
  InvalidInputError,
  isTokenError,
  MisconfigurationError,
  mayRotate,
  type NewTokenRecord,
  StorageUnavailableError,
  type TokenChangeListener,
  type TokenChanges,
  type TokenOwner,
  type TokenRecord,
  type TokenStore,
} from '@jetstream/tokens'
import { and, eq, lt, ne, or, type SQL, sql } from 'drizzle-orm'
import type { AnyPgColumn, PgDatabase, PgQueryResultHKT, PgTable } from 'drizzle-orm/pg-core'
import { ChangeFeed } from './change-feed.js'
import { driverOf } from './driver-of.js'
import { LookupBatch } from './lookup-batch.js'
import { personalAccessTokens } from './schema.js'
import { StatementDeadline } from './statement-deadline.js'
import {
  COLUMN_KEYS,
  type ColumnKey,
  decodeRow,
  type OptionalColumnKey,
  selectionOf,
  type TokenQueries,
  type TokenRow,
  tokenQueries,
} from './token-queries.js'

/**
 * Any drizzle PostgreSQL database: postgres.js, node-postgres, PGlite… with or without a schema. (drizzle types
 * the schema parameter per database; `any` is the one type every database object is assignable to.)
 *
 * @example
 * ```ts
 * const db: AnyPgDatabase = drizzle(postgres(process.env.DATABASE_URL), { schema })
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: see above; the store never touches the relational query API.
export type AnyPgDatabase = PgDatabase<PgQueryResultHKT, any>

/**
 * The columns a token table needs, by their property names in your `pgTable` definition. Column names and types
 * may differ: `tokenable_id` may be bigint, timestamps may lack a time zone, `abilities` may be json. `metadata`
 * (json, jsonb or text) is optional: without it, a token that carries metadata is refused (422).
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
export type TokenTable = PgTable &
  Readonly<Record<ColumnKey, AnyPgColumn>> &
  Readonly<Partial<Record<OptionalColumnKey, AnyPgColumn>>>

/**
 * Options of {@link drizzleStore}.
 *
 * @example
 * ```ts
 * const options: DrizzleStoreOptions = { timeout: 2_000, listen: drizzle(postgres(process.env.DIRECT_URL)) }
 * ```
 */
export interface DrizzleStoreOptions {
  /** The token table; default {@link personalAccessTokens}. */
  readonly table?: TokenTable
  /**
   * Milliseconds a statement may take before the call fails with `StorageUnavailableError` (the service answers
   * 503 rather than hold the request). Default 5000. A verification read past it is then cancelled on the server
   * (`pg_cancel_backend`), as are the same reads of any instance that have run longer than this: give instances
   * sharing a database the same timeout. Not applied to an in-process PGlite, which cannot hang on a network.
   */
  readonly timeout?: number
  /**
   * How often, in milliseconds, the change feed checks that its listening connection still delivers (a server
   * only; see `watch`). A dropped connection is noticed within about two intervals. Default 1000.
   */
  readonly probeInterval?: number
  /**
   * The database the change feed listens on; default `db`. Behind a pooler in transaction mode (PgBouncer), give
   * a drizzle database on a direct connection to PostgreSQL: LISTEN belongs to a session, and such a pooler hands
   * each transaction whichever server connection is free, so notifications would reach nobody. The feed holds one
   * connection for listening: a node-postgres pool lends it; with postgres.js the feed opens it with the client's
   * own options, as `sql.listen` does, so that it hears at once when that connection is lost. The triggers are
   * still checked, and the probes sent, through `db`: a `listen` that reaches another database never turns the
   * cache on.
   */
  readonly listen?: AnyPgDatabase
  /**
   * Whether the verification reads are named prepared statements. Default true. False behind a pooler in
   * transaction mode that cannot follow prepared statements (PgBouncer before 1.21): each read is then sent
   * unnamed (with postgres.js, also set `prepare: false` on the client).
   */
  readonly prepare?: boolean
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
  readonly #selection: ReturnType<typeof selectionOf>
  readonly #id: Codec
  readonly #ownerId: Codec
  readonly #queries: TokenQueries
  readonly #batch: LookupBatch<TokenRow>
  /**
   * Reports changes made by anyone (this app, other instances, plain SQL such as a Laravel app sharing the table)
   * through the migration's triggers and LISTEN/NOTIFY, so a verification cache drops them at once. Where it cannot
   * (a driver that cannot listen, a table the triggers do not announce), it says so with `refused` at once: the
   * cache stays off, loudly, rather than keep a token revoked elsewhere for its `ttl`.
   */
  readonly watch: (listener: TokenChangeListener) => () => Promise<void>

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
    this.#selection = selectionOf(table)
    this.#id = codecFor(table.id)
    this.#ownerId = codecFor(table.tokenableId)
    const queries = tokenQueries(db, table, options.prepare ?? true)
    this.#queries = queries
    // An in-process PGlite has no network to hang on; every other driver gets a deadline per statement, and the
    // server is asked to stop a verification read that passed it, so it does not hold a pooled connection.
    const inProcess = driverOf(db) === 'pglite'
    this.#deadline = inProcess
      ? null
      : new StatementDeadline(timeout, {
          cancel: { operation: 'find', run: () => queries.cancelOverdue(timeout) },
        })
    this.#batch = this.#batchOn(inProcess)
    const feed = ChangeFeed.on(db, options.listen ?? db, table, {
      probeInterval: options.probeInterval ?? 1_000,
    })
    this.watch =
      typeof feed === 'string'
        ? (listener) => {
            listener.refused(new MisconfigurationError(feed))
            return async () => {}
          }
        : (listener) => feed.start(listener)
  }

  /** @example const stored = await store.insert(newRecord) */
  async insert(token: NewTokenRecord): Promise<TokenRecord> {
    const values = this.#values(token)
    const rows = await this.#run('insert', () =>
      this.#db.insert(this.#table).values(values).returning(this.#selection),
    )
    return decodeRow(rows[0] as TokenRow)
  }

  /**
   * One transaction: the old row is locked and checked against `token` (`mayRotate`), then deleted (or its
   * `expires_at` brought forward to `retireAt`), then the new row inserted; a refused insert rolls it all back.
   *
   * @example
   * ```ts
   * const next = await store.rotate(owner, '7', newRecord, new Date(Date.now() + 3_600_000))
   * ```
   */
  async rotate(
    owner: TokenOwner,
    id: string,
    token: NewTokenRecord,
    retireAt: Date | null,
  ): Promise<TokenRecord | null> {
    const where = this.#ownedToken(owner, id)
    if (!where) return null
    const values = this.#values(token)
    const t = this.#table
    // Through the column's own encoder, as drizzle's builders do: a bare Date in raw SQL would reach the driver.
    const retire = retireAt && sql.param(encodeDate(t.expiresAt, retireAt), t.expiresAt)
    const row = await this.#run('rotate', () =>
      this.#db.transaction(async (tx) => {
        const old = await this.#locked(tx, where)
        if (!old || !mayRotate(old, token)) return undefined
        // Deleted first, the old row no longer holds its hash when the new one is inserted: the unique index
        // would let the same hash through, which the contract refuses as any stored hash.
        if (old.tokenHash === token.tokenHash) throw new Error('A token with this hash is already stored.')
        await (retire === null
          ? tx.delete(t).where(where)
          : tx
              .update(t)
              .set({ expiresAt: sql`least(coalesce(${t.expiresAt}, ${retire}), ${retire})` })
              .where(where))
        const rows = await tx.insert(t).values(values).returning(this.#selection)
        return rows[0] as TokenRow
      }),
    )
    return row ? decodeRow(row) : null
  }

  /** @example await store.findById('7') */
  findById(id: string): Promise<TokenRecord | null> {
    if (this.#id.encode(id) === undefined) return Promise.resolve(null)
    // The deadline runs from the ask, so a lookup waiting for a batch is answered within it too.
    return this.#found(this.#watch('find', () => this.#batch.find(id)))
  }

  /** @example await store.findByHash(sha256Hex) */
  findByHash(tokenHash: string): Promise<TokenRecord | null> {
    return this.#found(this.#watch('find', () => this.#queries.byHash(tokenHash)))
  }

  /** @example await store.listByOwner({ type: 'user', id: '42' }) */
  async listByOwner(owner: TokenOwner): Promise<TokenRecord[]> {
    const where = this.#owned(owner)
    if (!where) return []
    const t = this.#table
    const rows = await this.#run('list', () =>
      this.#db
        .select(this.#selection)
        .from(t)
        .where(where)
        .orderBy(sql`${t.createdAt} desc`, sql`${t.id} desc`),
    )
    return rows.map((row) => decodeRow(row as TokenRow))
  }

  /**
   * One `UPDATE`; with `abilitiesWere`, a transaction that first locks the row and compares its abilities as
   * decoded, as `rotate` does.
   *
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
    if (changes.tokenHash !== undefined) set.token = changes.tokenHash
    const were = changes.abilitiesWere
    const rows = await this.#run('update', () =>
      were === undefined
        ? this.#db.update(t).set(set).where(where).returning(this.#selection)
        : this.#db.transaction(async (tx) => {
            const locked = await this.#locked(tx, where)
            if (!locked || !hasAbilities(locked, were)) return []
            return tx.update(t).set(set).where(where).returning(this.#selection)
          }),
    )
    return rows.length === 0 ? null : decodeRow(rows[0] as TokenRow)
  }

  /** @example await store.delete(owner, '7') // true */
  async delete(owner: TokenOwner, id: string): Promise<boolean> {
    const where = this.#ownedToken(owner, id)
    if (!where) return false
    const t = this.#table
    const rows = await this.#run('delete', () => this.#db.delete(t).where(where).returning({ id: t.id }))
    return rows.length > 0
  }

  /** @example await store.deleteByOwner(owner, currentTokenId) */
  async deleteByOwner(owner: TokenOwner, exceptId?: string): Promise<string[]> {
    const owned = this.#owned(owner)
    if (!owned) return []
    const t = this.#table
    const except = exceptId === undefined ? undefined : this.#id.encode(exceptId)
    const where = except === undefined ? owned : and(owned, ne(t.id, except))
    const deleted: string[] = []
    // Under READ COMMITTED a DELETE that waited for a row's lock does not see rows committed meanwhile: the
    // successor a rotation inserted while it held the old row, which may have been the owner's only token (so the
    // first pass finds nothing). Deleting again until a later pass finds none catches it (one more statement per
    // call); the passes are bounded, as a session that keeps creating tokens would otherwise keep this going.
    for (let pass = 0; pass < DELETE_PASSES; pass++) {
      const rows = await this.#run('delete', () => this.#db.delete(t).where(where).returning({ id: t.id }))
      if (rows.length === 0 && pass > 0) break
      for (const row of rows) deleted.push(String(row.id))
    }
    return deleted
  }

  /**
   * One `UPDATE … FROM json_populate_recordset(…)` for the whole batch, each token with its own time of use; never
   * moves `lastUsedAt` backwards.
   *
   * @example
   * ```ts
   * await store.touch(new Map([['7', new Date()]]))
   * ```
   */
  async touch(uses: ReadonlyMap<string, Date>): Promise<void> {
    const t = this.#table
    const rows: Record<string, string>[] = []
    for (const [id, at] of uses) {
      if (this.#id.encode(id) !== undefined) {
        rows.push({ [t.id.name]: id, [t.lastUsedAt.name]: fitted(t.lastUsedAt, at).toISOString() })
      }
    }
    if (rows.length === 0) return
    // In id order, so two instances touching the same tokens lock their rows in the same order and never deadlock.
    rows.sort((a, b) => compareIds(a[t.id.name] as string, b[t.id.name] as string))
    // The table's own row type gives each value its column's type (a bigserial id, a timestamp without time zone
    // read as UTC), so no type is named here; one JSON parameter, one statement text for every batch size.
    const id = sql.identifier(t.id.name)
    const lastUsedAt = sql.identifier(t.lastUsedAt.name)
    await this.#run('touch', () =>
      this.#db.execute(
        sql.join(
          [
            sql`update ${t} set ${lastUsedAt} = used.${lastUsedAt}`,
            sql`from json_populate_recordset(null::${t}, ${JSON.stringify(rows)}) as used`,
            sql`where ${t.id} = used.${id} and (${t.lastUsedAt} is null or ${t.lastUsedAt} < used.${lastUsedAt})`,
          ],
          sql` `,
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

  // A new row's values; refuses what the table cannot hold (an owner id its column cannot take, metadata without
  // a column) before anything is sent.
  #values(token: NewTokenRecord): Record<string, unknown> {
    const ownerId = this.#ownerId.encode(token.owner.id)
    if (ownerId === undefined) {
      throw new InvalidInputError({
        owner: [`The owner id must fit the table's ${this.#ownerId.sqlType} column.`],
      })
    }
    const t = this.#table
    const values: Record<string, unknown> = {
      tokenableType: token.owner.type,
      tokenableId: ownerId,
      name: token.name,
      token: token.tokenHash,
      abilities: encodeAbilities(t.abilities, token.abilities),
      expiresAt: token.expiresAt && encodeDate(t.expiresAt, token.expiresAt),
      createdAt: encodeDate(t.createdAt, token.createdAt),
      updatedAt: encodeDate(t.updatedAt, token.updatedAt),
    }
    if (token.metadata !== undefined) {
      if (!t.metadata) {
        throw new InvalidInputError({
          metadata: [
            'This token table has no metadata column (a Laravel table has none): add a jsonb `metadata` column to keep metadata.',
          ],
        })
      }
      values.metadata = t.metadata.dataType === 'json' ? token.metadata : JSON.stringify(token.metadata)
    }
    return values
  }

  // The row, locked until the transaction ends, and decoded: compared the way the service read it, so the same text
  // in any column type reads the same.
  async #locked(tx: AnyPgDatabase, where: SQL): Promise<TokenRecord | undefined> {
    const [row] = await tx.select(this.#selection).from(this.#table).where(where).for('update')
    return row && decodeRow(row as TokenRow)
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

  // One `then` both decodes and maps errors: every promise hop on this path costs measurably (bench/).
  #found(pending: Promise<TokenRow | undefined>): Promise<TokenRecord | null> {
    return pending.then(
      (row) => (row === undefined ? null : decodeRow(row)),
      (error: unknown) => {
        throw storageError('find', error)
      },
    )
  }

  // Lookups by id share statements (lookup-batch.ts): on a server, round trips; in process, PGlite's per-query work
  // (drizzle's session hands PGlite its parsers with every query, which PGlite merges anew each time). PGlite runs
  // one query at a time, before any other request is read: there lookups asked in one turn go together.
  #batchOn(inProcess: boolean): LookupBatch<TokenRow> {
    const queries = this.#queries
    const id = this.#id
    return new LookupBatch<TokenRow>(
      {
        one: (key) => this.#watch('find', () => queries.byId(id.encode(key))),
        many: (keys) => this.#watch('find', () => queries.byIds(keys.map((key) => id.encode(key)))),
        key: (row) => String(row.id),
      },
      {
        slots: inProcess ? 1 : BATCH_SLOTS,
        size: BATCH_SIZE,
        isTimeout: (error) => error instanceof StorageUnavailableError,
        ...(inProcess && { gather: endOfTurn }),
      },
    )
  }

  // The query under the deadline (none in process); a synchronous throw becomes a rejection.
  #watch<T>(operation: string, query: () => PromiseLike<T>): Promise<T> {
    try {
      return this.#deadline ? this.#deadline.watch(operation, query) : Promise.resolve(query())
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #run<T>(operation: string, query: () => PromiseLike<T>): Promise<T> {
    return this.#watch(operation, query).catch((error: unknown) => {
      throw storageError(operation, error)
    })
  }
}

/** Turns the core's string ids into what a column takes; `undefined` for an id the column could never hold. */
interface Codec {
  readonly sqlType: string
  encode(id: string): unknown
}

// Statements `deleteByOwner` sends at most: more than any rotations running beside it need.
const DELETE_PASSES = 10
// Two lookups in flight at most, the others waiting to go together: measured best of 1, 2, 4 and 8 (bench/).
const BATCH_SLOTS = 2
// A bound on one statement's size; more waiting lookups go in further statements.
const BATCH_SIZE = 64
// The end of this turn of the event loop, once the I/O it read has been handled; a timer where there is no
// `setImmediate`.
const endOfTurn: (flush: () => void) => void =
  typeof setImmediate === 'function'
    ? (flush) => void setImmediate(flush)
    : (flush) => void setTimeout(flush, 0)

const MAX_BIGINT = 9_223_372_036_854_775_807n
// Canonical decimal only: `01` or `+1` is not token 1 (the core refuses them too; a direct caller may not).
const DIGITS = /^(?:0|[1-9][0-9]{0,18})$/

const UUID = /^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$/

// The integer types narrower than what a JS number holds exactly.
const NUMBER_MAX: Readonly<Record<string, number>> = {
  smallint: 32_767,
  smallserial: 32_767,
  integer: 2_147_483_647,
  serial: 2_147_483_647,
}

function codecFor(column: AnyPgColumn): Codec {
  const sqlType = column.getSQLType()
  // The largest value the column holds: an id past it is none of its rows, and sent, it would fail the statement
  // (and with it every lookup batched in the same one).
  const max = NUMBER_MAX[sqlType] ?? Number.MAX_SAFE_INTEGER
  let encode: Codec['encode']
  if (column.dataType === 'number') {
    encode = (id) => (DIGITS.test(id) && Number(id) <= max ? Number(id) : undefined)
  } else if (column.dataType === 'bigint') {
    encode = (id) => (DIGITS.test(id) && BigInt(id) <= MAX_BIGINT ? BigInt(id) : undefined)
  } else if (sqlType === 'uuid') {
    // Only in the form PostgreSQL gives back (lower case), so each token has one id.
    encode = (id) => (UUID.test(id) ? id : undefined)
  } else {
    // Text takes anything PostgreSQL can store, which is anything but a NUL.
    encode = (id) => (id.includes('\0') ? undefined : id)
  }
  return { sqlType, encode }
}

// Shorter first, then as text: numbers by value (`9` before `10`), and for any ids one order every instance agrees on.
function compareIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0)
}

// Sanctum writes abilities as JSON text (`["read","update"]`); a json/jsonb column takes the list itself.
function encodeAbilities(column: AnyPgColumn, abilities: readonly string[]): unknown {
  return column.dataType === 'json' ? [...abilities] : JSON.stringify(abilities)
}

function encodeDate(column: AnyPgColumn, date: Date): unknown {
  const kept = fitted(column, date)
  return column.dataType === 'date' ? kept : kept.toISOString()
}

// A timestamp column keeps `precision` digits of the second and PostgreSQL rounds the rest half up: a Laravel
// table's `timestamp(0)` would let a token's end, or its last use, move up to half a second later than granted.
// Cut to the column's precision first, so a time is never stored later than given.
function fitted(column: AnyPgColumn, date: Date): Date {
  const precision = (column as { precision?: number }).precision
  if (precision === undefined || precision >= 3) return date
  const unit = 10 ** (3 - precision)
  return new Date(Math.floor(date.getTime() / unit) * unit)
}

// Integrity constraints a custom table may add: NOT NULL, foreign key, check. (A unique violation stays a plain
// refusal: the contract's duplicate hash.)
const REFUSED_BY_TABLE = new Set(['23502', '23503', '23514'])

// drizzle wraps driver errors in DrizzleQueryError, whose message lists the parameters (a token hash among them):
// keep only the driver's own error as the cause.
function storageError(operation: string, error: unknown): Error {
  if (isTokenError(error)) return error
  const cause = error instanceof Error && error.message.startsWith('Failed query:') ? error.cause : error
  const code = (cause as { code?: unknown } | null)?.code
  if (typeof code === 'string' && (code.startsWith('22') || REFUSED_BY_TABLE.has(code))) {
    // SQLSTATE class 22, data exception: a value the table's column cannot hold (a custom, narrower table); or a
    // constraint of a custom table (a foreign key to its users, a check, another NOT NULL column): the request's
    // value, not an outage. The message as DriverError keeps it, so a value it quotes
    // (`invalid input syntax for type uuid: "<hash>"`) is redacted there too.
    const { message } = new DriverError('Error', String((cause as Error).message), code)
    return new InvalidInputError({ token: [`The database refused a value: ${message}`] })
  }
  return new StorageUnavailableError(`The database failed to ${operation}.`, { cause })
}
