import type { MaybePromise } from './maybe-promise.js'
import type { TokenOwner } from './token-owner.js'

/**
 * A token as a store keeps it. `tokenHash` is sha256 of the secret, lowercase hex; the secret itself is never
 * stored.
 *
 * @example
 * ```ts
 * const record: TokenRecord = await store.findById('7') ?? fail()
 * ```
 */
export interface TokenRecord {
  readonly id: string
  readonly owner: TokenOwner
  readonly name: string
  readonly abilities: readonly string[]
  readonly tokenHash: string
  readonly lastUsedAt: Date | null
  readonly expiresAt: Date | null
  readonly createdAt: Date
  readonly updatedAt: Date
  /** A small JSON object stored with the token (`create(…, { metadata })`); absent when it has none. */
  readonly metadata?: TokenMetadata
}

/**
 * What a token may carry besides its abilities: a JSON object, kept as the same JSON value (the service bounds its
 * size). As in JSON, the order of an object's keys carries nothing: a store may give them back in another order
 * (PostgreSQL's `jsonb` does).
 *
 * @example
 * ```ts
 * const metadata: TokenMetadata = { environment: 'ci', repository: 'acme/api' }
 * ```
 */
export type TokenMetadata = Readonly<Record<string, unknown>>

/**
 * What {@link TokenStore.insert} receives: a record before the store has given it an id.
 *
 * @example
 * ```ts
 * const stored = await store.insert({ owner, name: 'CLI', abilities: ['read'], tokenHash, expiresAt: null, createdAt: now, updatedAt: now } satisfies NewTokenRecord)
 * ```
 */
export type NewTokenRecord = Omit<TokenRecord, 'id' | 'lastUsedAt'>

/**
 * The changes {@link TokenStore.update} applies; absent fields stay as they are.
 *
 * @example
 * ```ts
 * await store.update(owner, '7', { abilities: ['read'], updatedAt: new Date() } satisfies TokenChanges)
 * ```
 */
export interface TokenChanges {
  readonly name?: string
  readonly abilities?: readonly string[]
  /** A new hash for the same secret (the service rehashes a token to its current hash key on use). */
  readonly tokenHash?: string
  readonly updatedAt: Date
  /**
   * When given, the update applies only to a token whose abilities are still these; otherwise nothing changes and
   * `update` answers null. The service checked a managing token's change against them, and a narrowing that
   * landed since must not be undone (it reads the token again). The check and the write are one atomic step.
   */
  readonly abilitiesWere?: readonly string[]
}

/**
 * What {@link TokenStore.deleteExpired} removes.
 *
 * @example
 * ```ts
 * await store.deleteExpired({ expiredBefore: new Date(Date.now() - 86_400_000) } satisfies ExpiredTokenCriteria)
 * ```
 */
export interface ExpiredTokenCriteria {
  /** Delete tokens whose `expiresAt` is before this instant. */
  readonly expiredBefore: Date
  /** Also delete tokens created before this instant (set when the service has a global lifetime). */
  readonly createdBefore?: Date
}

/**
 * What a store tells the token service about changes it did not make itself (another instance, plain SQL), so a
 * verification cache never answers with a revoked or changed token.
 *
 * @example
 * ```ts
 * store.watch?.({
 *   changed: (ids) => console.log('changed', ids),
 *   delivering: (live) => console.log({ live }),
 *   refused: (error) => console.error(error.message),
 * })
 * ```
 */
export interface TokenChangeListener {
  /** These tokens were changed or deleted; `null` when any may have been (say, the table was truncated). */
  changed(ids: readonly string[] | null): void
  /** False while changes cannot be delivered (the listening connection dropped); true once they can again. */
  delivering(live: boolean): void
  /**
   * Changes cannot be delivered as things stand (say, the table has no change triggers, or the driver cannot
   * listen; it may be called at once, from `watch` itself): the cache stays off until `delivering(true)`, and the
   * service reports `error` (a `MisconfigurationError` that says how to fix it).
   */
  refused(error: Error): void
}

/**
 * The storage-driver contract: everything the token service asks of a database, and nothing more. Write a driver
 * by implementing it and check it with `testTokenStore` from `@jetstream/testing`.
 *
 * Rules every driver MUST keep (the conformance suite checks each, except the two about a database that fails or
 * hangs, which need it taken down, and what no call can show: that `findById` is one read, and that each method
 * stays atomic under every interleaving. Test those in the driver’s own tests):
 * - Ids are non-empty strings of `[A-Za-z0-9_-]`, at most 64 characters (so never contain `|`), unique for the
 *   store's lifetime: a deleted token's id is never given again. A numeric id is canonical decimal (no sign, no
 *   leading zero), as `isTokenId` says.
 * - A token has one id: a lookup by any other spelling of it (`01` for `1`, an upper-case uuid) resolves to null.
 * - `tokenHash` is unique across all tokens; an insert, update or rotation that would duplicate one rejects.
 * - Lookups of unknown ids or hashes — including ids the store could never have issued, such as `abc` for a
 *   numeric id column — resolve to `null`; they never throw for that reason.
 * - Every method that changes a token is scoped to its owner where it takes one: another owner's token is left
 *   alone and reported as not found. Two owners are one only when their types and ids are the same text exactly:
 *   not `ABC` and `abc`, not `abc ` and `abc`, not the type `a:b` with the id `c` and the type `a` with `b:c`.
 * - Records come back as fresh objects: changing one never changes what the store holds. (A frozen
 *   `abilities` list may be shared, since nobody can change it.)
 * - When the database cannot be reached or fails, a method rejects (ideally with `StorageUnavailableError`,
 *   keeping the driver's error as `cause`); it never resolves to `null` or `false` for that reason, which would
 *   read as "no such token". The service turns any other rejection into `StorageUnavailableError` too.
 * - Every call settles within a bounded time: a driver that talks to a server takes a timeout option and
 *   rejects when it passes. (The service does not add a timer of its own: on the memory store that would cost
 *   more than the lookup.)
 * - Each method is atomic on its own, and safe to call concurrently.
 *
 * What the service gives a driver, so a driver need not guard against the rest: owner types and ids, names and
 * hashes without control characters or lone surrogates (text every database keeps exactly: PostgreSQL refuses NUL,
 * and UTF-8 has no form for a lone surrogate), and dates between the years 1 and 9999.
 *
 * @example
 * ```ts
 * class MyStore implements TokenStore {
 *   async insert(token: NewTokenRecord): Promise<TokenRecord> { … }
 *   // …
 * }
 * const tokens = createTokens({ store: new MyStore(), permissions })
 * ```
 */
export interface TokenStore {
  /**
   * Stores a new token and returns it with its new id and `lastUsedAt: null`. MUST reject when `tokenHash` is
   * already stored. Keeps `metadata` as the same JSON value; a store with nowhere to keep it MUST reject a token
   * that has some with `InvalidInputError` (422) rather than drop it.
   */
  insert(token: NewTokenRecord): Promise<TokenRecord>

  /**
   * The token with this id, or null. MUST be one read and no write. Every request asks it, so it may answer at
   * once (a store in memory) rather than with a promise.
   */
  findById(id: string): MaybePromise<TokenRecord | null>

  /**
   * The token with this hash, or null (for plain texts given without their `{id}|` part). One read, no write; at
   * once or as a promise, as `findById`.
   */
  findByHash(tokenHash: string): MaybePromise<TokenRecord | null>

  /**
   * The owner's tokens, newest first: by `createdAt`, then by id, descending (by value where ids are numbers, so
   * `10` comes before `9`), in the same order on every call.
   */
  listByOwner(owner: TokenOwner): Promise<TokenRecord[]>

  /**
   * Applies `changes` to the owner's token and returns it, or null when the owner has no token with this id. A
   * new `tokenHash` replaces the old one for `findByHash` too.
   */
  update(owner: TokenOwner, id: string, changes: TokenChanges): Promise<TokenRecord | null>

  /**
   * Replaces the owner's token `id` by `token` (a new secret), atomically: inserts `token`, and either deletes the
   * old token (`retireAt` null) or sets its `expiresAt` to `retireAt` unless it already ends sooner, so the old
   * secret keeps working until then. Returns the new token, or null (and changes nothing) when the owner has no
   * token with this id, when that token's `name` or `abilities` are no longer `token`'s, or when it now ends
   * before `token` would (null `expiresAt`: never): the new token is a copy of the old one as the service read it,
   * and a rename, a narrowing or a retirement that landed since must not be undone (the service reads the token
   * again). The check and the writes are one atomic step. MUST reject when
   * `token.tokenHash` is already stored, changing nothing.
   */
  rotate(
    owner: TokenOwner,
    id: string,
    token: NewTokenRecord,
    retireAt: Date | null,
  ): Promise<TokenRecord | null>
  /** Deletes the owner's token; true when one was deleted. */
  delete(owner: TokenOwner, id: string): Promise<boolean>

  /**
   * Deletes every token of the owner except `exceptId` (when given); returns the ids deleted. A rotation of one of
   * them running beside it must not leave a successor behind: once this resolves, the rotation either found its
   * token gone or had its new token deleted too.
   */
  deleteByOwner(owner: TokenOwner, exceptId?: string): Promise<string[]>

  /**
   * Sets each listed token's `lastUsedAt` to its time of use (`uses` maps ids to times), for those that still
   * exist, in one batch. MUST NOT create a token: a deleted id stays deleted. MUST NOT move `lastUsedAt` backwards.
   */
  touch(uses: ReadonlyMap<string, Date>): Promise<void>

  /**
   * Deletes the tokens that match `criteria` (either condition); returns how many.
   */
  deleteExpired(criteria: ExpiredTokenCriteria): Promise<number>

  /**
   * Optional: reports changes to tokens, from any process, to `listener` until the returned function is called:
   * changes to anything but the times `lastUsedAt` and `updatedAt`, which no verification reads.
   * MUST call `delivering(true)` once it is listening and `delivering(false)` as soon as it may miss a change, and
   * when stopped. `testTokenStore` checks this, and that changes and deletes are reported by id: updates, deletes,
   * rotations, and the bulk deletes of `deleteByOwner` and `deleteExpired`, made through its `peer` (another
   * instance on the same data, which the suite requires of a store with `watch`).
   * Without it, the service runs no verification cache on the store, and says so: nothing would tell a cache of
   * a token revoked through another instance.
   */
  watch?(listener: TokenChangeListener): () => Promise<void>
}

/**
 * Whether `rotate` may replace `old`, the token as the store holds it at that moment, by `next`: the contract's rule,
 * for a store to apply inside its atomic step. `next` copies `old`'s name and abilities and ends no later than it
 * (a rename, a narrowing or a retirement since the service read the token makes this false).
 *
 * @example
 * ```ts
 * if (!old || !mayRotate(old, next)) return null
 * ```
 */
export function mayRotate(
  old: Pick<TokenRecord, 'name' | 'abilities' | 'expiresAt'>,
  next: Pick<NewTokenRecord, 'name' | 'abilities' | 'expiresAt'>,
): boolean {
  const end = old.expiresAt
  return (
    old.name === next.name &&
    hasAbilities(old, next.abilities) &&
    (end === null || (next.expiresAt !== null && next.expiresAt <= end))
  )
}

/**
 * Whether a token's abilities are exactly `abilities`, in order: the check `update` makes for `abilitiesWere`.
 *
 * @example
 * ```ts
 * if (changes.abilitiesWere && !hasAbilities(stored, changes.abilitiesWere)) return null
 * ```
 */
export function hasAbilities(token: Pick<TokenRecord, 'abilities'>, abilities: readonly string[]): boolean {
  return (
    token.abilities.length === abilities.length && abilities.every((item, i) => item === token.abilities[i])
  )
}
