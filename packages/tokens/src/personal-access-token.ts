import type { TokenOwner } from './token-owner.js'
import type { TokenMetadata } from './token-store.js'
import type { Attempt } from './token-telemetry.js'

/**
 * The fields of a {@link PersonalAccessToken}: everything about a token except its secret and hash.
 *
 * @example
 * ```ts
 * const data: PersonalAccessTokenData = {
 *   id: '7', owner: { type: 'user', id: '42' }, name: 'CLI', abilities: ['read'],
 *   lastUsedAt: null, expiresAt: null, createdAt: new Date(),
 * }
 * ```
 */
export interface PersonalAccessTokenData {
  readonly id: string
  readonly owner: TokenOwner
  readonly name: string
  readonly abilities: readonly string[]
  readonly lastUsedAt: Date | null
  readonly expiresAt: Date | null
  readonly createdAt: Date
  /** The JSON object stored with the token, if any. */
  readonly metadata?: TokenMetadata | null
}

/**
 * How a {@link PersonalAccessToken} reads its abilities. `scopes`: an ability ending in `:*` grants every
 * ability below it (`posts:*` grants `posts:read` and `posts:update:own`); off, it is a plain name, as in Sanctum.
 *
 * @example
 * ```ts
 * new PersonalAccessToken(data, { scopes: true }).can('posts:read')
 * ```
 */
export interface AbilityOptions {
  readonly scopes?: boolean
}

// Set by the class's static block: the service reads a token's last use as a number, with no Date built for it.
let lastUsedTime: (token: PersonalAccessToken) => number | null

/**
 * When a token was last used, in epoch milliseconds: `lastUsedAt` without the Date. For the token service of this
 * package, on the path every request takes; not exported to apps.
 *
 * @example
 * ```ts
 * const last = lastUsedMillis(token) // null if never used
 * ```
 */
export function lastUsedMillis(token: PersonalAccessToken): number | null {
  return lastUsedTime(token)
}

// Set by the class's static block, like `lastUsedTime`.
let verificationSlot: (token: PersonalAccessToken, next: Attempt | null) => Attempt | null

/**
 * The authentication that verified a token and waits for its use (telemetry, audit trail), read and replaced in one
 * call: `next` is stored, the value before it returned. A slot on the token rather than a WeakMap in the service:
 * each verification makes its token afresh, and the WeakMap's set, get and delete cost about 0.3 µs more per
 * authentication (0.57-0.59 µs against 0.17-0.29 µs with telemetry that does nothing). For the token service of
 * this package; not exported to apps.
 *
 * @example
 * ```ts
 * swapVerification(token, attempt) // null: the token was just made
 * const attempt = swapVerification(token, null) // the attempt, and the slot empty again
 * ```
 */
export function swapVerification(token: PersonalAccessToken, next: Attempt | null): Attempt | null {
  return verificationSlot(token, next)
}

/**
 * A token a user issued for an API client. It knows its abilities and never holds its secret or hash, so it can
 * be logged or returned as JSON safely. Its times are getters that give a new `Date` on each read, so a spread
 * (`{ ...token }`) leaves them out; `token.toJSON()` gives every field as plain data.
 *
 * @example
 * ```ts
 * const token = await tokens.authenticate(plainText)
 * token?.can('read')   // true when its abilities hold "read" or "*"
 * token?.cant('delete')
 * ```
 */
export class PersonalAccessToken<P extends string = string> implements PersonalAccessTokenData {
  readonly id: string
  readonly owner: TokenOwner
  readonly name: string
  readonly abilities: readonly string[]
  /** The JSON object stored with the token (deeply frozen), or null. */
  readonly metadata: TokenMetadata | null
  readonly #scopes: boolean
  // The times as epoch milliseconds, each read giving a Date of its own: a record may be shared (the verification
  // cache hands one to every request), so no Date of it may reach an app, where a `setTime` would move another
  // request's expiry; and most requests never read a time, so none is built for them.
  readonly #lastUsedAt: number | null
  readonly #expiresAt: number | null
  readonly #createdAt: number
  #verification: Attempt | null = null

  static {
    lastUsedTime = (token) => token.#lastUsedAt
    verificationSlot = (token, next) => {
      const previous = token.#verification
      token.#verification = next
      return previous
    }
  }

  constructor(data: PersonalAccessTokenData, options: AbilityOptions = {}) {
    this.id = data.id
    this.owner = { type: data.owner.type, id: data.owner.id }
    this.name = data.name
    // Frozen so `can` cannot be fooled by a push (a list a store already froze is shared as is); a token holds a
    // handful of abilities, so a list search beats a Set.
    this.abilities = Object.isFrozen(data.abilities) ? data.abilities : Object.freeze([...data.abilities])
    this.#lastUsedAt = data.lastUsedAt === null ? null : data.lastUsedAt.getTime()
    this.#expiresAt = data.expiresAt === null ? null : data.expiresAt.getTime()
    this.#createdAt = data.createdAt.getTime()
    // Frozen in depth: a cached record's metadata is shared by every request that reads the token.
    this.metadata = data.metadata == null ? null : deepFreeze(data.metadata)
    this.#scopes = options.scopes === true && this.abilities.some(isScope)
  }

  /** When the token was last used (to within the service's `lastUsed.interval`), or null if never. */
  get lastUsedAt(): Date | null {
    return this.#lastUsedAt === null ? null : new Date(this.#lastUsedAt)
  }

  /** When the token stops working, or null when only the service's `expiration` (if any) limits it. */
  get expiresAt(): Date | null {
    return this.#expiresAt === null ? null : new Date(this.#expiresAt)
  }

  /** When the token was issued. */
  get createdAt(): Date {
    return new Date(this.#createdAt)
  }

  /**
   * True when the token holds `ability` or the wildcard `'*'` (or, with scopes on, a scope above it such as
   * `posts:*`). Exact, case-sensitive match.
   *
   * @example
   * ```ts
   * token.can('read')
   * ```
   */
  can(ability: P): boolean {
    const abilities = this.abilities
    if (abilities.includes('*') || abilities.includes(ability)) return true
    if (!this.#scopes) return false
    // `posts:update:own` is granted by `posts:*` and `posts:update:*`; `posts:*` only by itself (or `*`), so a
    // scope never stands for more than the scope it was given.
    for (let end = ability.indexOf(':'); end !== -1; end = ability.indexOf(':', end + 1)) {
      if (abilities.includes(`${ability.slice(0, end)}:*`)) return true
    }
    return false
  }

  /**
   * The negation of {@link PersonalAccessToken.can}.
   *
   * @example
   * ```ts
   * if (token.cant('delete')) throw new MissingAbilitiesError(['delete'])
   * ```
   */
  cant(ability: P): boolean {
    return !this.can(ability)
  }

  /**
   * The token as plain data for JSON responses: no secret, no hash.
   *
   * @example
   * ```ts
   * JSON.stringify(token) // {"id":"1","owner":{…},"name":"CLI","abilities":["read"],…}
   * ```
   */
  toJSON(): PersonalAccessTokenData {
    return {
      id: this.id,
      owner: this.owner,
      name: this.name,
      abilities: this.abilities,
      lastUsedAt: this.lastUsedAt,
      expiresAt: this.expiresAt,
      createdAt: this.createdAt,
      metadata: this.metadata,
    }
  }
}

function isScope(ability: string): boolean {
  return ability.endsWith(':*')
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const item of Object.values(value)) deepFreeze(item)
  }
  return value
}
