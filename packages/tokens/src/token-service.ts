import type { AuditAction, AuditContext, AuditEvent, AuditSink } from './audit-log.js'
import type { AccessToken } from './auth.js'
import {
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  isTokenError,
  MisconfigurationError,
  MissingAbilitiesError,
  ownMessage,
  StorageUnavailableError,
  UnauthenticatedError,
} from './errors.js'
import { type LastUsedOptions, LastUsedTracker } from './last-used-tracker.js'
import { isPromiseLike, type MaybePromise } from './maybe-promise.js'
import type { Grant, PermissionRegistry } from './permission-registry.js'
import {
  type AbilityOptions,
  lastUsedMillis,
  PersonalAccessToken,
  swapVerification,
} from './personal-access-token.js'
import {
  assertValidPrefix,
  generateSecret,
  hashesEqual,
  isTokenId,
  parsePlainTextToken,
} from './plain-text-token.js'
import { type RateLimitOptions, type RateLimitPolicy, RateLimits } from './rate-limits.js'
import { type HashKeyOptions, SecretHasher } from './secret-hasher.js'
import {
  endsBeforeYear10000,
  tokenAbilities,
  tokenExpiry,
  tokenGrace,
  tokenMetadata,
  tokenName,
  tokenOwner,
} from './token-input.js'
import type { OwnerInput, TokenOwner } from './token-owner.js'
import type { TokenMetadata, TokenRecord, TokenStore } from './token-store.js'
import { Attempt, type TokenAction, type TokenTelemetry, telemetryNow } from './token-telemetry.js'
import { isTransientToken } from './transient-token.js'
import { VerificationCache, type VerificationCacheOptions } from './verification-cache.js'

// Set by TokenService's static block: lets the request guard in this package reach `#verify` and `#use`, which
// are not API.
let verify: <P extends string>(
  service: TokenService<P>,
  plainText: string,
  lookup: boolean,
  context: AuditContext | undefined,
) => PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> | typeof NEEDS_LOOKUP
let auditOf: (service: TokenService<string>) => AuditSink | null
let use: <P extends string>(service: TokenService<P>, token: PersonalAccessToken<P>) => PersonalAccessToken<P>
let limitsOf: (service: TokenService<string>) => RateLimits | null
let report: (service: TokenService<string>, error: unknown) => void
let rateLimited: (service: TokenService<string>, policy: RateLimitPolicy) => void

/**
 * The service's rate limits (its `rateLimit` option), or null without them. For the request guard of this
 * package; not exported to apps.
 *
 * @example
 * ```ts
 * const limits = rateLimitsOf(tokens)
 * ```
 */
export function rateLimitsOf(service: TokenService<string>): RateLimits | null {
  return limitsOf(service)
}

/**
 * Hands an error to the service's `on.error` hook. For the request guard of this package; not exported to apps.
 *
 * @example
 * ```ts
 * reportTo(tokens, error)
 * ```
 */
export function reportTo(service: TokenService<string>, error: unknown): void {
  report(service, error)
}

/**
 * Tells the service's telemetry that a rate limit refused a request. For the request guard of this package; not
 * exported to apps.
 *
 * @example
 * ```ts
 * rateLimitedBy(tokens, 'token')
 * ```
 */
export function rateLimitedBy(service: TokenService<string>, policy: RateLimitPolicy): void {
  rateLimited(service, policy)
}

/**
 * `authenticate` without its use: the token is verified (and cached), but no touch is queued and `authenticated`
 * is not called until {@link useToken}, so an owner the app then refuses leaves no trace of a use. Answers without
 * a promise when no lookup is pending (a malformed or cached token, a store that answers at once). For the
 * request guard of this package; not exported to apps.
 *
 * @example
 * ```ts
 * const token = verifyToken(tokens, plainText)
 * const found = token instanceof Promise ? await token : token
 * ```
 */
export function verifyToken<P extends string>(
  service: TokenService<P>,
  plainText: string,
  context?: AuditContext,
): PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> {
  return verify(service, plainText, true, context) as
    | PersonalAccessToken<P>
    | null
    | Promise<PersonalAccessToken<P> | null>
}

/** What {@link verifyWithoutLookup} answers when only the store can tell. */
export const NEEDS_LOOKUP: unique symbol = Symbol('needs a store lookup')

/**
 * {@link verifyToken} as far as it goes without asking the store (a malformed plain text, a cached token), else
 * {@link NEEDS_LOOKUP}: the request guard checks a client's failure limit before a lookup, and only then. For the
 * request guard of this package; not exported to apps.
 *
 * @example
 * ```ts
 * const early = verifyWithoutLookup(tokens, plainText)
 * if (early === NEEDS_LOOKUP) await checkTheClientFirst()
 * ```
 */
export function verifyWithoutLookup<P extends string>(
  service: TokenService<P>,
  plainText: string,
  context?: AuditContext,
): PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> | typeof NEEDS_LOOKUP {
  return verify(service, plainText, false, context)
}

/**
 * Whether the service keeps an audit trail (its `audit` option): the request guard then hands each
 * authentication its request's address and client. For the request guard of this package; not exported to apps.
 *
 * @example
 * ```ts
 * if (isAuditing(tokens)) context = { ip, userAgent }
 * ```
 */
export function isAuditing(service: TokenService<string>): boolean {
  return auditOf(service) !== null
}

/**
 * Ends an authentication {@link verifyToken} accepted, once the app has looked for the token's owner. With the
 * owner found (the default) it is a use: queues the last-used touch, calls `authenticated`, and returns the token
 * as it now reads (its `lastUsedAt` is this use). Without, the token is refused: nothing is written, no hook is
 * called, telemetry counts it refused with the reason `rejected`, and the token is returned as it was.
 *
 * @example
 * ```ts
 * const used = useToken(tokens, token)
 * useToken(tokens, token, false) // the app knows no such owner
 * ```
 */
export function useToken<P extends string>(
  service: TokenService<P>,
  token: PersonalAccessToken<P>,
  ownerFound = true,
): PersonalAccessToken<P> {
  if (ownerFound) return use(service, token)
  refuse(service, token)
  return token
}

// Set by TokenService's static block, like `verify` and `use`.
let refuse: <P extends string>(service: TokenService<P>, token: PersonalAccessToken<P>) => void

/**
 * Why `authenticate` refused a token; given to the `failed` hook. Never includes the token itself.
 *
 * @example
 * ```ts
 * const reason: AuthenticationFailure = 'expired'
 * ```
 */
export type AuthenticationFailure =
  | 'malformed' // not a token of this app's format, or a bad checksum: never reached the store
  | 'unknown' // no token with that id (or hash)
  | 'mismatch' // the id exists but the secret is wrong
  | 'expired' // past the global lifetime or its own expiresAt
  | 'idle' // unused for longer than `idleTimeout`
  | 'rejected' // the app's `authenticateUsing` said no (in telemetry, also the middleware's `user` finding no owner)

/**
 * Hooks the service calls; they must not throw (a throwing hook is reported to `error` and ignored).
 *
 * @example
 * ```ts
 * const on: TokenServiceHooks<Permission> = {
 *   failed: ({ reason, tokenId }) => metrics.increment('token_refused', { reason }),
 *   error: (error) => logger.error(error),
 * }
 * ```
 */
export interface TokenServiceHooks<P extends string> {
  /** A token was accepted. */
  authenticated?(token: PersonalAccessToken<P>): void
  /** A token was refused; `tokenId` is the id part when the plain text had one and it was well formed. */
  failed?(event: { reason: AuthenticationFailure; tokenId: string | null }): void
  /**
   * A background task failed (a last-used flush, the audit sink, a shared rate limiter) or a hook threw. Without
   * this hook, the error's message goes to `console.error`, each message at most once a minute, rather than nowhere.
   */
  error?(error: unknown): void
}

/**
 * Everything {@link createTokens} takes. Only `store` is required.
 *
 * @example
 * ```ts
 * const options: TokenServiceOptions<Permission> = { store: new MemoryTokenStore(), permissions, expiration: 60 * 24 * 30 }
 * ```
 */
export interface TokenServiceOptions<P extends string = string> extends HashKeyOptions {
  /** Where tokens live: `new MemoryTokenStore()`, `drizzleStore(db)`, or your own driver. */
  readonly store: TokenStore
  /**
   * The permissions tokens may carry. Without one, abilities are free-form names and new tokens default to
   * `['*']`, as in plain Sanctum.
   */
  readonly permissions?: PermissionRegistry<P>
  /** Put before every new secret, e.g. `acme_` (Sanctum's `token_prefix`). Default `''`. */
  readonly prefix?: string
  /**
   * Also accept tokens issued by Sanctum 2 or 3 (`{id}|{40 letters and digits}`, no prefix, no checksum), for an
   * app upgraded from them that shares its table. Off by default: without a checksum, every well-formed guess
   * reaches the store. New tokens are always Sanctum 4's format.
   */
  readonly legacyTokens?: boolean
  /** Minutes a token lives from its creation (Sanctum's `expiration`); `null` for no global limit. Default null. */
  readonly expiration?: number | null
  /**
   * Minutes a token may go unused (since its last use, or its creation if never used) before it is refused, with
   * the reason `idle`; `null` for no limit. Default null. Uses are written at most once per `lastUsed.interval`
   * and after `lastUsed.flushDelay`, so an instance may know a use that late: a token is refused once it has been
   * idle for `idleTimeout` plus that slack (by default 61 s), and a token in steady use is never refused.
   * Needs `lastUsed` on.
   */
  readonly idleTimeout?: number | null
  /** The largest `metadata` a token may carry, in bytes of JSON text. Default 4096. */
  readonly metadataLimit?: number
  /** `lastUsedAt` tracking; `false` switches it off. Default: touch at most once a minute, flushed after 1 s. */
  readonly lastUsed?: LastUsedOptions | false
  /** The owner type given to a bare owner id. Default `'user'`; `'App\\Models\\User'` when sharing a Laravel table. */
  readonly ownerType?: string
  /** Whether `'*'` (every ability) may be granted. Default: true without a registry, false with one. */
  readonly allowWildcard?: boolean
  /**
   * Has the last word on a token whose secret matched (Sanctum's `authenticateAccessTokensUsing`): it gets the
   * token and whether it is valid so far (false when expired) and returns whether to accept it.
   */
  readonly authenticateUsing?: (token: PersonalAccessToken<P>, isValid: boolean) => MaybePromise<boolean>
  readonly on?: TokenServiceHooks<P>
  /**
   * Where to report each authentication, management action and last-used flush once it has ended: `openTelemetry()`
   * from `@jetstream/tokens/opentelemetry` for spans and metrics, or your own {@link TokenTelemetry}. Off by default,
   * and then nothing is measured.
   */
  readonly telemetry?: TokenTelemetry
  /**
   * Where the audit trail goes: every token created, updated, rotated, revoked, pruned, authenticated and refused,
   * with who acted, from which address and client where the request is known. `new MemoryAuditLog()`,
   * `drizzleAuditLog(db)` from `@jetstream/drizzle`, or your own {@link AuditSink}. Off by default.
   */
  readonly audit?: AuditSink
  /**
   * Keep verified tokens in process so most requests skip the store. Off by default. Every request still hashes
   * the secret and checks expiry; this service's revoke, update and prune drop entries before they resolve; the
   * store's `watch` reports changes made elsewhere (the drizzle store's through LISTEN/NOTIFY, the memory store's
   * in process). A store without `watch` leaves the cache off, reported to `on.error` (or the console): a token
   * revoked through another instance would otherwise stay accepted for up to `ttl`.
   */
  readonly cache?: VerificationCacheOptions | boolean
  /**
   * How many requests each token (and each signed-in user's session) may make per `window` seconds, and how many
   * refused authentications a client address may cost, through the adapters' `auth` middleware. Over a limit:
   * 429 with `Retry-After`, `RateLimit` and `RateLimit-Policy`. Off by default.
   */
  readonly rateLimit?: RateLimitOptions<P>
  /** The clock, for tests. Default `() => new Date()`. */
  readonly now?: () => Date
}

/**
 * A newly created token and its plain text, which is shown once and cannot be recovered later.
 *
 * @example
 * ```ts
 * const { token, plainTextToken }: NewAccessToken<Permission> = await tokens.create('42', 'CLI', ['read'])
 * ```
 */
export interface NewAccessToken<P extends string = string> {
  readonly token: PersonalAccessToken<P>
  /** `{id}|{secret}`: give it to the user now; only its hash is stored. */
  readonly plainTextToken: string
}

/**
 * Options of {@link TokenService.create}.
 *
 * @example
 * ```ts
 * const options: CreateTokenOptions = { expiresAt: new Date(Date.now() + 86_400_000), grantedBy: auth.token }
 * ```
 */
export interface CreateTokenOptions {
  /** When the token stops working; must be in the future. */
  readonly expiresAt?: Date | null
  /**
   * A small JSON object kept with the token and returned with it (`token.metadata`), at most `metadataLimit`
   * bytes. A store with nowhere to keep it (a Laravel table) refuses it with a 422.
   */
  readonly metadata?: TokenMetadata | null
  /**
   * The token of the request that asks for this one. A token never makes a token that outranks or outlives it:
   * the new token may only carry abilities this one holds (else `MissingAbilitiesError`, 403), and its expiry is
   * clamped to this token's own end, which is the earlier of its `expiresAt` and the service's `expiration`
   * counted from its creation (an absent or later `expiresAt` becomes that instant). It carries this token's
   * metadata, which a policy may read as part of what was granted: asking for other metadata is a 403. A session
   * request's `TransientToken` may grant anything, for any time.
   */
  readonly grantedBy?: AccessToken | null
  /** The request behind it, for the audit trail (the management routes pass it). */
  readonly context?: AuditContext
}

/**
 * Options of {@link TokenService.rotate}.
 *
 * @example
 * ```ts
 * const options: RotateTokenOptions = { grace: 60 } // the old secret works for one more hour
 * ```
 */
export interface RotateTokenOptions {
  /**
   * Minutes the old secret keeps working, so clients can move to the new one without downtime (never past the
   * old token's own end). Default 0: the old token is deleted at once.
   */
  readonly grace?: number
  /**
   * As in {@link CreateTokenOptions.grantedBy}: the token must hold every ability of the one it regenerates, and
   * carry the same metadata (else 403).
   */
  readonly grantedBy?: AccessToken | null
  /** The request behind it, for the audit trail. */
  readonly context?: AuditContext
}

/**
 * What {@link TokenService.update} may change.
 *
 * @example
 * ```ts
 * const changes: TokenUpdate<'read'> = { abilities: ['read'], grantedBy: auth.token }
 * ```
 */
export interface TokenUpdate<P extends string = string> {
  readonly name?: string
  readonly abilities?: readonly Grant<P>[]
  /**
   * As in {@link CreateTokenOptions.grantedBy}: the new abilities must be within this token's, and it may add an
   * ability only to a token that ends no later than it does (else `ForbiddenError`, 403).
   */
  readonly grantedBy?: AccessToken | null
  /** The request behind it, for the audit trail. */
  readonly context?: AuditContext
}

/**
 * Builds the token service: create, authenticate, list, update, revoke and prune personal access tokens.
 *
 * @example
 * ```ts
 * const permissions = new PermissionRegistry({ permissions: ['create', 'read', 'update', 'delete'], defaults: ['read'] })
 * const tokens = createTokens({ store: new MemoryTokenStore(), permissions })
 * const { plainTextToken } = await tokens.create('42', 'CI deploy', ['read'])
 * const token = await tokens.authenticate(plainTextToken)
 * token?.can('read') // true
 * ```
 */
export function createTokens<const P extends string = string>(
  options: TokenServiceOptions<P>,
): TokenService<P> {
  return new TokenService(options)
}

/**
 * The token service. Build it with {@link createTokens}.
 *
 * @example
 * ```ts
 * const tokens: TokenService<'read' | 'write'> = createTokens({ store, permissions })
 * ```
 */
export class TokenService<P extends string = string> {
  /** The registry the service checks abilities against, or null when abilities are free-form. */
  readonly permissions: PermissionRegistry<P> | null
  readonly #store: TokenStore
  readonly #prefix: string
  readonly #expirationMs: number | null
  readonly #ownerType: string
  readonly #allowWildcard: boolean
  // What `create` grants when given no abilities: never the wildcard where the service refuses it.
  readonly #defaultAbilities: readonly string[]
  readonly #authenticateUsing: TokenServiceOptions<P>['authenticateUsing']
  readonly #legacyTokens: boolean
  readonly #hasher: SecretHasher
  readonly #idleMs: number | null
  readonly #metadataLimit: number
  // One object for every token the service builds: nothing is allocated for it per request.
  readonly #abilityOptions: AbilityOptions
  // Ids whose rehash to the current key is on its way, so a burst of requests writes it once.
  readonly #rehashing = new Set<string>()
  readonly #hooks: TokenServiceHooks<P>
  // When each error message went to the console, without an `error` hook (see #report).
  readonly #printed = new Map<string, number>()
  readonly #telemetry: TokenTelemetry | null
  // With telemetry or an audit trail, each authentication is followed (an `Attempt`): an accepted token carries its
  // attempt (`swapVerification`) until it is used or its owner is not found.
  readonly #observed: boolean
  readonly #audit: AuditSink | null
  readonly #now: () => Date
  /** The clock as epoch milliseconds: `authenticate` needs no Date object unless it queues a touch. */
  readonly #clock: () => number
  readonly #tracker: LastUsedTracker | null
  readonly #cache: VerificationCache | null
  readonly #unwatch: (() => Promise<void>) | null
  readonly #limits: RateLimits | null

  constructor(options: TokenServiceOptions<P>) {
    if (!isStore(options.store)) {
      throw new MisconfigurationError(
        'createTokens needs a `store`: new MemoryTokenStore(), drizzleStore(db) or your own TokenStore.',
      )
    }
    const prefix = options.prefix ?? ''
    assertValidPrefix(prefix)
    const expiration = options.expiration ?? null
    if (expiration !== null && !(Number.isFinite(expiration) && expiration > 0)) {
      throw new MisconfigurationError('`expiration` is a number of minutes greater than 0, or null for none.')
    }
    // A token's end is written as a date (a child's, a rotated one's): it must be one every store can keep.
    if (expiration !== null && !endsBeforeYear10000((options.now?.() ?? new Date()).getTime(), expiration)) {
      throw new MisconfigurationError('`expiration` must end before the year 10000.')
    }
    const lastUsed = options.lastUsed ?? {}
    if (lastUsed !== false) {
      for (const key of ['interval', 'flushDelay'] as const) {
        const value = lastUsed[key]
        if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
          throw new MisconfigurationError(`\`lastUsed.${key}\` is a number of milliseconds, 0 or more.`)
        }
      }
    }
    const idleTimeout = options.idleTimeout ?? null
    if (idleTimeout !== null && !(Number.isFinite(idleTimeout) && idleTimeout > 0)) {
      throw new MisconfigurationError(
        '`idleTimeout` is a number of minutes greater than 0, or null for none.',
      )
    }
    if (idleTimeout !== null && lastUsed === false) {
      throw new MisconfigurationError(
        '`idleTimeout` needs `lastUsed` tracking: a token’s uses are what it counts.',
      )
    }
    const metadataLimit = options.metadataLimit ?? 4_096
    if (!(Number.isSafeInteger(metadataLimit) && metadataLimit > 0)) {
      throw new MisconfigurationError('`metadataLimit` is a number of bytes, 1 or more (default 4096).')
    }
    const ownerType = options.ownerType ?? 'user'
    if (typeof ownerType !== 'string' || ownerType === '' || ownerType.length > 255) {
      throw new MisconfigurationError('`ownerType` is the type given to bare owner ids: 1 to 255 characters.')
    }

    this.permissions = options.permissions ?? null
    this.#store = options.store
    this.#prefix = prefix
    this.#expirationMs = expiration === null ? null : expiration * 60_000
    this.#ownerType = ownerType
    this.#allowWildcard = options.allowWildcard ?? this.permissions === null
    this.#defaultAbilities = this.permissions?.defaults ?? (this.#allowWildcard ? ['*'] : [])
    this.#authenticateUsing = options.authenticateUsing
    this.#legacyTokens = options.legacyTokens === true
    this.#hasher = new SecretHasher(options)
    this.#limits = options.rateLimit
      ? new RateLimits(
          options.rateLimit,
          (error) => this.#report(error),
          (policy) => this.#rateLimited(policy),
          (name) => this.permissions === null || this.permissions.permissions.includes(name as P),
        )
      : null
    this.#metadataLimit = metadataLimit
    this.#abilityOptions = Object.freeze({ scopes: this.permissions?.scopes === true })
    this.#hooks = options.on ?? {}
    const telemetry = options.telemetry ?? null
    if (
      telemetry !== null &&
      !['authentication', 'action', 'flush'].every(
        (method) => typeof (telemetry as unknown as Record<string, unknown>)[method] === 'function',
      )
    ) {
      throw new MisconfigurationError(
        '`telemetry` has `authentication`, `action` and `flush` methods: openTelemetry() from @jetstream/tokens/opentelemetry, or your own.',
      )
    }
    this.#telemetry = telemetry
    const audit = options.audit ?? null
    if (audit !== null && typeof (audit as { record?: unknown }).record !== 'function') {
      throw new MisconfigurationError(
        '`audit` has a `record(event)` method: new MemoryAuditLog(), drizzleAuditLog(db), or your own.',
      )
    }
    this.#audit = audit
    this.#observed = telemetry !== null || audit !== null
    const now = options.now
    this.#now = now ?? (() => new Date())
    this.#clock = now ? () => now().getTime() : Date.now
    const cache = options.cache ?? false
    if (cache !== false && cache !== true) {
      for (const key of ['maxEntries', 'ttl'] as const) {
        const value = cache[key]
        if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
          throw new MisconfigurationError(`\`cache.${key}\` is a number greater than 0.`)
        }
      }
    }
    // A store that cannot report changes made elsewhere would leave a revoked token accepted for up to `ttl`: no
    // cache then, said as loudly as a store's refusal.
    const watchable = cache !== false && typeof this.#store.watch === 'function'
    this.#cache = watchable ? new VerificationCache(cache === true ? {} : cache) : null
    if (cache !== false && !watchable) {
      this.#report(
        new MisconfigurationError(
          'The store cannot report changes (it has no `watch`), so a token revoked through another instance would stay accepted from the cache: run without `cache`, or give the store a `watch`.',
        ),
        'the verification cache is off. ',
      )
    }
    if (this.#cache && this.#store.watch) {
      const watched = this.#cache
      // Not trusted until the store says it is listening: a change made elsewhere before that would be missed.
      watched.trust(false)
      this.#unwatch = this.#store.watch({
        changed: (ids) => (ids === null ? watched.clear() : watched.invalidate(ids)),
        delivering: (live) => watched.trust(live),
        refused: (error) => {
          watched.trust(false)
          // Loud: a cache that silently never starts would hide a misconfigured table until someone measured it.
          this.#report(error, 'the verification cache is off. ')
        },
      })
    } else {
      this.#unwatch = null
    }
    this.#tracker =
      lastUsed === false
        ? null
        : new LastUsedTracker(
            (uses) => this.#touch(uses),
            lastUsed,
            (error) => this.#report(error),
          )
    // A use may reach the store up to one interval and one flush delay late: allowed for, so steady use never idles.
    this.#idleMs =
      idleTimeout === null || this.#tracker === null
        ? null
        : idleTimeout * 60_000 + this.#tracker.interval + this.#tracker.flushDelay
  }

  /**
   * Issues a token. Abilities default to the registry's defaults (or, without a registry, `['*']` as in Sanctum,
   * and none where `allowWildcard` is false). The plain text is returned once; only its hash is stored.
   *
   * @throws InvalidInputError (422) for a bad name, owner, ability, expiry or metadata.
   * @throws MissingAbilitiesError (403) when `grantedBy` lacks an ability asked for.
   * @throws UnauthenticatedError (401) when `grantedBy` was revoked, or has expired, since it was verified.
   * @example
   * ```ts
   * const { token, plainTextToken } = await tokens.create('42', 'CI deploy', ['read'], { expiresAt })
   * ```
   */
  create(
    owner: OwnerInput,
    name: string,
    abilities?: readonly Grant<P>[],
    options: CreateTokenOptions = {},
  ): Promise<NewAccessToken<P>> {
    const started = this.#started()
    return this.#acted('create', started, null, this.#create(owner, name, abilities, options))
  }

  async #create(
    owner: OwnerInput,
    name: string,
    abilities: readonly Grant<P>[] | undefined,
    options: CreateTokenOptions,
  ): Promise<NewAccessToken<P>> {
    const now = this.#now()
    const maker = await this.#makerNow(options.grantedBy, now)
    const metadata = this.#passedOn(tokenMetadata(options.metadata, this.#metadataLimit), maker)
    const record = {
      owner: tokenOwner(owner, this.#ownerType),
      name: tokenName(name),
      abilities: this.#abilities(abilities ?? this.#defaultAbilities, maker),
      expiresAt: this.#clampedExpiry(tokenExpiry(options.expiresAt, now), maker),
      ...(metadata !== undefined && { metadata }),
    }
    const secret = generateSecret(this.#prefix)
    const stored = await this.#call('insert', () =>
      this.#store.insert({ ...record, tokenHash: this.#hasher.hash(secret), createdAt: now, updatedAt: now }),
    )
    this.#record('created', options.context, { owner: stored.owner, tokenId: stored.id })
    return { token: this.#token(stored), plainTextToken: `${stored.id}|${secret}` }
  }

  /**
   * The token a plain text stands for, or null when it is malformed, unknown, wrong, expired or vetoed. The
   * checksum is checked before the store is asked; the secret and expiry before anything is written.
   *
   * @throws StorageUnavailableError (503) when the store cannot answer: never null for that.
   * @example
   * ```ts
   * const token = await tokens.authenticate(bearer)
   * if (!token) throw new UnauthenticatedError({ tokenRejected: true })
   * ```
   */
  authenticate(plainText: string): Promise<PersonalAccessToken<P> | null> {
    try {
      const verified = this.#verify(plainText) as
        | PersonalAccessToken<P>
        | null
        | Promise<PersonalAccessToken<P> | null>
      if (verified instanceof Promise) return verified.then((token) => token && this.#use(token))
      return Promise.resolve(verified && this.#use(verified))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  static {
    refuse = (service, token) => service.#refuse(token)
    verify = (service, plainText, mayLookUp, context) => service.#verify(plainText, mayLookUp, context)
    auditOf = (service) => service.#audit
    use = (service, token) => service.#use(token)
    limitsOf = (service) => service.#limits
    report = (service, error) => service.#report(error)
    rateLimited = (service, policy) => service.#rateLimited(policy)
  }

  // Without telemetry nothing is measured: the only cost is this check.
  #verify(
    plainText: string,
    mayLookUp = true,
    context?: AuditContext,
  ): PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> | typeof NEEDS_LOOKUP {
    return this.#observed
      ? this.#observe(plainText, mayLookUp, context)
      : this.#verifyAs(plainText, mayLookUp, null)
  }

  // `#verify` with telemetry or an audit trail: a refusal or a failure ends the authentication here; an accepted
  // token carries it until its use, or until the app finds no owner, which ends it.
  #observe(
    plainText: string,
    mayLookUp: boolean,
    context: AuditContext | undefined,
  ): PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> | typeof NEEDS_LOOKUP {
    const attempt = new Attempt(context ?? null)
    let verified: PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> | typeof NEEDS_LOOKUP
    try {
      verified = this.#verifyAs(plainText, mayLookUp, attempt)
    } catch (error) {
      throw this.#errored(attempt, error)
    }
    // Not an outcome: the request guard asks again, lookup allowed, once it has checked the client's failures;
    // that authentication is the one reported.
    if (verified === NEEDS_LOOKUP) return verified
    if (!(verified instanceof Promise)) return this.#verifiedBy(attempt, verified)
    return verified.then(
      (token) => this.#verifiedBy(attempt, token),
      (error: unknown) => {
        throw this.#errored(attempt, error)
      },
    )
  }

  #verifiedBy(attempt: Attempt, token: PersonalAccessToken<P> | null): PersonalAccessToken<P> | null {
    if (token === null) this.#ended(attempt)
    else swapVerification(token, attempt)
    return token
  }

  // `authenticate` without a promise where no lookup is needed (a malformed token, a cached record). The request
  // guard calls it through `verifyToken`: on the path every request takes, each promise and each clock read shows
  // in the benchmark (bench/), so there is one clock read here (and one in `#use`, once the use is recorded) and at
  // most one `then`. `attempt` is null without telemetry; with it, it is told what happens as it happens.
  #verifyAs(
    plainText: string,
    mayLookUp: boolean,
    attempt: Attempt | null,
  ): PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> | typeof NEEDS_LOOKUP {
    const parsed = parsePlainTextToken(plainText, this.#prefix, this.#legacyTokens)
    if (!parsed) return this.#fail('malformed', null, attempt)
    const secret = parsed.secret
    const hash = this.#hasher.hash(secret)
    const now = this.#clock()
    const id = parsed.id
    const cache = this.#cache
    if (cache !== null && id !== null) {
      const entry = cache.get(id, now)
      // A cached `lastUsedAt` is as old as the entry: uses written since (by this instance or another) are only in
      // the store, so an entry that looks idle is read again rather than refused.
      const cached = entry !== undefined && !this.#isIdle(entry, now) ? entry : undefined
      attempt?.cached(cached !== undefined)
      if (cached !== undefined) return this.#check(cached, secret, hash, id, now, null, attempt)
    }
    if (!mayLookUp) return NEEDS_LOOKUP
    const generation = cache === null ? 0 : cache.generation
    // A lookup that waited (a slow database, a batch) is judged when it answers: a token that expired meanwhile is
    // refused, not accepted on the time of the ask.
    if (id === null && this.#hasher.hasPrevious) {
      return this.#findByHashes([hash, ...this.#hasher.previousHashes(secret)], attempt).then((record) =>
        record
          ? this.#check(record, secret, hash, id, this.#clock(), generation, attempt)
          : this.#fail('unknown', id, attempt),
      )
    }
    let lookup: MaybePromise<TokenRecord | null>
    attempt?.asking(id)
    try {
      lookup = id === null ? this.#store.findByHash(hash) : this.#store.findById(id)
    } catch (error) {
      attempt?.answered()
      throw storageError('find', error)
    }
    if (!isPromiseLike(lookup)) {
      attempt?.answered()
      return lookup
        ? this.#check(lookup, secret, hash, id, now, generation, attempt)
        : this.#fail('unknown', id, attempt)
    }
    return Promise.resolve(lookup).then(
      (record) => {
        attempt?.answered()
        return record
          ? this.#check(record, secret, hash, id, this.#clock(), generation, attempt)
          : this.#fail('unknown', id, attempt)
      },
      (error: unknown) => {
        attempt?.answered()
        throw storageError('find', error)
      },
    )
  }

  // A plain text without its id, while older hash keys may still be stored: each key's hash in turn.
  async #findByHashes(hashes: readonly string[], attempt: Attempt | null): Promise<TokenRecord | null> {
    for (const hash of hashes) {
      attempt?.asking(null)
      try {
        const record = await this.#call('find', async () => this.#store.findByHash(hash))
        if (record) return record
      } finally {
        attempt?.answered()
      }
    }
    return null
  }

  // The secret, then expiry, then the app's veto. `generation` is the cache's, read before a store lookup; null
  // when the record came from the cache.
  #check(
    record: TokenRecord,
    secret: string,
    hash: string,
    id: string | null,
    now: number,
    generation: number | null,
    attempt: Attempt | null,
  ): PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null> {
    attempt?.found(record.owner)
    if (!hashesEqual(hash, record.tokenHash)) {
      if (!this.#hashedBefore(record, secret)) return this.#fail('mismatch', id, attempt)
      this.#rehash(record, hash)
    }
    // A record from the cache was found not idle a moment ago, at this same `now` (see `#verifyAs`).
    const idle = generation !== null && this.#isIdle(record, now)
    const ended = this.#isExpired(record, now) ? 'expired' : idle ? 'idle' : null
    const isValid = ended === null
    const decide = this.#authenticateUsing
    if (!decide)
      return isValid ? this.#accept(record, now, generation) : this.#fail(ended, record.id, attempt)
    const decided = decide(this.#token(record), isValid)
    const settle = (accepted: boolean) =>
      accepted === true ? this.#accept(record, now, generation) : this.#fail('rejected', record.id, attempt)
    return isPromiseLike(decided) ? Promise.resolve(decided).then(settle) : settle(decided)
  }

  // Whether the secret matches under a previous hash key: a token made before the current key.
  #hashedBefore(record: TokenRecord, secret: string): boolean {
    if (!this.#hasher.hasPrevious) return false
    return this.#hasher.previousHashes(secret).some((old) => hashesEqual(old, record.tokenHash))
  }

  // Moves a token to the current hash key, off the request's path; a failure is reported, and the next use tries
  // again. The store's change (and the cache's invalidation) ends the old hash's life.
  #rehash(record: TokenRecord, hash: string): void {
    if (this.#rehashing.has(record.id)) return
    this.#rehashing.add(record.id)
    this.#call('update', () =>
      this.#store.update(record.owner, record.id, { tokenHash: hash, updatedAt: this.#now() }),
    )
      .then(
        () => this.#cache?.invalidate([record.id]),
        (error: unknown) => this.#report(error),
      )
      .finally(() => this.#rehashing.delete(record.id))
  }

  // Unused for `idleTimeout` (plus the slack of coalesced writes), counting a use this instance has not written yet.
  #isIdle(
    record: { readonly id: string; readonly lastUsedAt: Date | null; readonly createdAt: Date },
    now: number,
  ): boolean {
    const idleMs = this.#idleMs
    if (idleMs === null) return false
    const stored = record.lastUsedAt === null ? record.createdAt.getTime() : record.lastUsedAt.getTime()
    const pending = this.#tracker?.pending(record.id)
    return now - (pending !== undefined && pending > stored ? pending : stored) >= idleMs
  }

  #accept(record: TokenRecord, now: number, generation: number | null): PersonalAccessToken<P> {
    // Only a verified record is kept, so unknown ids and wrong secrets can never evict real entries.
    if (this.#cache !== null && generation !== null) this.#cache.set(record, now, generation)
    return this.#token(record)
  }

  // This request is a use: the token says so at once (to within the interval), while the write is coalesced.
  #use(token: PersonalAccessToken<P>): PersonalAccessToken<P> {
    let used = token
    if (this.#tracker) {
      const lastUsedAt = this.#tracker.note(token.id, lastUsedMillis(token), this.#clock())
      if (lastUsedAt !== null) {
        // Field by field: the times are getters on the prototype, which a spread would drop.
        const { id, owner, name, abilities, expiresAt, createdAt, metadata } = token
        used = new PersonalAccessToken<P>(
          { id, owner, name, abilities, lastUsedAt, expiresAt, createdAt, metadata },
          this.#abilityOptions,
        )
        this.#cache?.used(token.id, lastUsedAt)
      }
    }
    if (this.#hooks.authenticated) this.#emit(this.#hooks.authenticated, used)
    if (this.#observed) this.#endVerified(token, true)
    return used
  }

  // The request guard found no owner for a token `#verify` accepted.
  #refuse(token: PersonalAccessToken<P>): void {
    if (this.#observed) this.#endVerified(token, false)
  }

  // Ends the authentication that verified this token: accepted when the token is used, refused when its owner is
  // not found. A token that carries none (its authentication ended already) ends nothing.
  #endVerified(token: PersonalAccessToken<P>, accepted: boolean): void {
    const attempt = swapVerification(token, null)
    if (attempt === null) return
    attempt.found(token.owner)
    if (accepted) attempt.tokenId = token.id
    else attempt.refused('rejected', token.id)
    this.#ended(attempt)
  }

  #errored(attempt: Attempt, error: unknown): unknown {
    attempt.outcome = 'error'
    attempt.error = error
    this.#ended(attempt)
    return error
  }

  #ended(attempt: Attempt): void {
    attempt.endTime = telemetryNow()
    try {
      this.#telemetry?.authentication(attempt)
    } catch (error) {
      this.#report(error)
    }
    if (this.#audit !== null && attempt.outcome !== 'error') {
      const accepted = attempt.outcome === 'accepted'
      // A refused token is no actor; its owner is known only once a stored token was found.
      this.#record(accepted ? 'authenticated' : 'refused', attempt.context, {
        actor: accepted && attempt.tokenId !== null ? { type: 'token', id: attempt.tokenId } : null,
        owner: attempt.owner,
        tokenId: attempt.tokenId,
        reason: attempt.reason,
      })
    }
  }

  // One audit event, when the service keeps a trail; a sink that throws, or whose promise rejects, is reported, never
  // the caller's failure (nor, left unhandled, the end of the process).
  #record(
    action: AuditAction,
    context: AuditContext | null | undefined,
    fields: Partial<Pick<AuditEvent, 'actor' | 'owner' | 'tokenId' | 'previousTokenId' | 'reason' | 'count'>>,
  ): void {
    const audit = this.#audit
    if (audit === null) return
    try {
      const recorded = audit.record({
        action,
        at: this.#now(),
        actor: fields.actor !== undefined ? fields.actor : (context?.actor ?? null),
        owner: fields.owner ?? null,
        tokenId: fields.tokenId ?? null,
        ...(fields.previousTokenId !== undefined && { previousTokenId: fields.previousTokenId }),
        reason: fields.reason ?? null,
        count: fields.count ?? null,
        ip: clientText(context?.ip, 64),
        userAgent: clientText(context?.userAgent, 512),
      })
      if (isPromiseLike(recorded)) Promise.resolve(recorded).catch((error: unknown) => this.#report(error))
    } catch (error) {
      this.#report(error)
    }
  }

  /**
   * The owner's tokens, newest first. Expired tokens are included (so a page can show them) until pruned. A use
   * this instance has not written yet shows in `lastUsedAt` already.
   *
   * @example
   * ```ts
   * const list = await tokens.list('42')
   * ```
   */
  list(owner: OwnerInput): Promise<PersonalAccessToken<P>[]> {
    const started = this.#started()
    return this.#acted('list', started, null, this.#list(owner))
  }

  async #list(owner: OwnerInput): Promise<PersonalAccessToken<P>[]> {
    const records = await this.#call('list', () =>
      this.#store.listByOwner(tokenOwner(owner, this.#ownerType)),
    )
    return records.map((record) => {
      const pending = this.#tracker?.pending(record.id)
      const stored = record.lastUsedAt?.getTime() ?? Number.NEGATIVE_INFINITY
      return this.#token(
        pending !== undefined && pending > stored ? { ...record, lastUsedAt: new Date(pending) } : record,
      )
    })
  }

  /**
   * Whether the token no longer authenticates by time: past its own `expiresAt`, the service's `expiration`, or
   * (as far as this instance knows) its `idleTimeout`.
   *
   * @example
   * ```ts
   * const live = (await tokens.list('42')).filter((token) => !tokens.hasExpired(token))
   * ```
   */
  hasExpired(token: PersonalAccessToken<P>): boolean {
    const now = this.#clock()
    const { expiresAt, createdAt, lastUsedAt } = token
    const record = { id: token.id, expiresAt, createdAt, lastUsedAt }
    return this.#isExpired(record, now) || this.#isIdle(record, now)
  }

  /**
   * Regenerates a token: a new secret for a token with the same name, abilities, owner, metadata and end (its
   * `expiresAt`, or the end the service's `expiration` gives it), while the old secret keeps working for `grace`
   * minutes (default none: it is deleted). One atomic store call, so the old token is never retired without its
   * successor. Null when the owner has no token with this id. The successor copies the token as it is when the
   * store rotates it: a rename or a change of abilities that lands first is read again, never undone.
   *
   * @throws InvalidInputError (422) for a bad `grace`, or a token that has already ended.
   * @throws MissingAbilitiesError (403) when `grantedBy` lacks one of the token's abilities.
   * @throws UnauthenticatedError (401) when `grantedBy` was revoked, or has expired, since it was verified.
   * @throws ConflictError (409) when the token changed under each of three attempts.
   * @example
   * ```ts
   * const next = await tokens.rotate('42', token.id, { grace: 60 })
   * next?.plainTextToken // the new `{id}|{secret}`; the old one works for another hour
   * ```
   */
  rotate(owner: OwnerInput, id: string, options: RotateTokenOptions = {}): Promise<NewAccessToken<P> | null> {
    const started = this.#started()
    return this.#acted('rotate', started, id, this.#rotate(owner, id, options))
  }

  async #rotate(
    owner: OwnerInput,
    id: string,
    options: RotateTokenOptions,
  ): Promise<NewAccessToken<P> | null> {
    const who = tokenOwner(owner, this.#ownerType)
    const now = this.#now()
    const grace = tokenGrace(options.grace ?? 0, now)
    if (!isTokenId(id)) return null
    const maker = await this.#makerNow(options.grantedBy, now)
    // The store rotates only the token as it was read here: one renamed or narrowed in between is read again and
    // checked again, so its successor never brings back an ability taken away (nor loses a new name).
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const old = await this.#call('find', async () => this.#store.findById(id))
      if (!old || old.owner.type !== who.type || old.owner.id !== who.id) return null
      const rotated = await this.#rotateAsRead(who, old, now, grace, maker, options.context)
      if (rotated) return rotated
    }
    throw new ConflictError('The token kept changing while it was being rotated: try again.')
  }

  // One rotation of `old` as read, or null when the store found it changed (or gone) since.
  async #rotateAsRead(
    who: TokenOwner,
    old: TokenRecord,
    now: Date,
    grace: number,
    maker: AccessToken | null | undefined,
    context: AuditContext | undefined,
  ): Promise<NewAccessToken<P> | null> {
    const end = this.#endOf(old)
    if (end <= now.getTime()) {
      throw new InvalidInputError({ token: ['The token has expired: create a new one instead.'] })
    }
    // An idle token has ended as surely as an expired one: its successor would start a fresh idle clock.
    if (this.#isIdle(old, now.getTime())) {
      throw new InvalidInputError({
        token: ['The token has not been used within its idle timeout: create a new one instead.'],
      })
    }
    if (maker) {
      const missing = old.abilities.filter((ability) => maker.cant(ability))
      if (missing.length > 0) throw new MissingAbilitiesError(missing)
      // The maker receives the new plain text: the token must carry nothing its maker does not.
      if (!isTransientToken(maker) && !sameJson(old.metadata ?? null, maker.metadata)) {
        throw new ForbiddenError('A token can only rotate tokens that carry its own metadata.')
      }
    }
    const expiresAt = this.#clampedExpiry(end === Number.POSITIVE_INFINITY ? null : new Date(end), maker)
    const secret = generateSecret(this.#prefix)
    const retireAt = grace === 0 ? null : new Date(Math.min(now.getTime() + grace * 60_000, end))
    const stored = await this.#call('rotate', () =>
      this.#store.rotate(
        who,
        old.id,
        {
          owner: old.owner,
          name: old.name,
          abilities: old.abilities,
          tokenHash: this.#hasher.hash(secret),
          expiresAt,
          createdAt: now,
          updatedAt: now,
          ...(old.metadata !== undefined && { metadata: old.metadata }),
        },
        retireAt,
      ),
    ).finally(() => this.#cache?.invalidate([old.id]))
    if (!stored) return null
    if (retireAt === null) this.#tracker?.forget(old.id)
    this.#record('rotated', context, {
      owner: stored.owner,
      tokenId: stored.id,
      previousTokenId: old.id,
    })
    return { token: this.#token(stored), plainTextToken: `${stored.id}|${secret}` }
  }

  /**
   * Renames a token or replaces its abilities. Only the owner's own token is changed; null when the owner has no
   * token with this id.
   *
   * @throws InvalidInputError (422) for a bad name or ability.
   * @throws MissingAbilitiesError (403) when `grantedBy` lacks an ability of the new list.
   * @throws ForbiddenError (403) when `grantedBy` adds an ability to a token that outlives it or carries other
   *   metadata.
   * @throws UnauthenticatedError (401) when `grantedBy` was revoked, or has expired, since it was verified.
   * @throws ConflictError (409) when the token changed under each of three checks of `grantedBy`'s change.
   * @example
   * ```ts
   * await tokens.update('42', token.id, { abilities: ['read', 'update'] })
   * ```
   */
  update(owner: OwnerInput, id: string, changes: TokenUpdate<P>): Promise<PersonalAccessToken<P> | null> {
    const started = this.#started()
    return this.#acted('update', started, id, this.#update(owner, id, changes))
  }

  async #update(
    owner: OwnerInput,
    id: string,
    changes: TokenUpdate<P>,
  ): Promise<PersonalAccessToken<P> | null> {
    const who = tokenOwner(owner, this.#ownerType)
    const name = changes.name === undefined ? undefined : tokenName(changes.name)
    if (!isTokenId(id)) return null
    const maker = await this.#makerNow(changes.grantedBy, this.#now())
    const abilities = changes.abilities === undefined ? undefined : this.#abilities(changes.abilities, maker)
    // A managing token's change is checked against the target as read, and the store applies it only to the
    // target as read (`abilitiesWere`): a narrowing that lands in between is read again and checked again, never
    // undone, as in `rotate`.
    const managing = abilities !== undefined && maker && !isTransientToken(maker) ? maker : null
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const were = managing && abilities ? await this.#checkedTarget(who, id, abilities, managing) : null
      if (were === false) return null
      const record = await this.#call('update', () =>
        this.#store.update(who, id, {
          ...(name !== undefined && { name }),
          ...(abilities !== undefined && { abilities }),
          updatedAt: this.#now(),
          ...(were && { abilitiesWere: were }),
        }),
      ).finally(() => this.#cache?.invalidate([id]))
      if (record) {
        this.#record('updated', changes.context, { owner: record.owner, tokenId: id })
        return this.#token(record)
      }
      if (!were) return null
    }
    throw new ConflictError('The token kept changing while it was being updated: try again.')
  }

  // The abilities of the owner's token `id`, on which `maker` may set `abilities`; false when the owner has no such
  // token.
  async #checkedTarget(
    who: TokenOwner,
    id: string,
    abilities: readonly string[],
    maker: PersonalAccessToken<string>,
  ): Promise<readonly string[] | false> {
    const target = await this.#call('find', async () => this.#store.findById(id))
    if (!target || target.owner.type !== who.type || target.owner.id !== who.id) return false
    const added = abilities.some((ability) => !target.abilities.includes(ability))
    // Adding an ability to a token that outlives the maker would hand that ability on past the maker's end.
    if (added && this.#endOf(target) > this.#endOf(maker)) {
      throw new ForbiddenError('A token cannot add abilities to a token that lives longer than it does.')
    }
    // Nor to a token of other metadata (another project's, say), as it cannot make or rotate one: the ability
    // would reach what a policy reading the metadata refuses the maker itself.
    if (added && !sameJson(target.metadata ?? null, maker.metadata)) {
      throw new ForbiddenError('A token can only add abilities to tokens that carry its own metadata.')
    }
    return target.abilities
  }

  /**
   * Deletes one of the owner's tokens; false when the owner has no token with this id.
   *
   * @example
   * ```ts
   * await tokens.revoke('42', token.id) // true
   * ```
   */
  revoke(owner: OwnerInput, id: string, options: { context?: AuditContext } = {}): Promise<boolean> {
    const started = this.#started()
    return this.#acted('revoke', started, id, this.#revoke(owner, id, options.context))
  }

  async #revoke(owner: OwnerInput, id: string, context: AuditContext | undefined): Promise<boolean> {
    const who = tokenOwner(owner, this.#ownerType)
    if (!isTokenId(id)) return false
    // A call that failed may still have committed (a statement past its deadline, say): the entry goes either way,
    // as in update and rotate.
    const deleted = await this.#call('delete', () => this.#store.delete(who, id)).finally(() =>
      this.#cache?.invalidate([id]),
    )
    if (deleted) {
      this.#tracker?.forget(id)
      this.#record('revoked', context, { owner: who, tokenId: id })
    }
    return deleted
  }

  /**
   * Deletes all the owner's tokens, except `except` (say, the one making the request); returns how many.
   *
   * @example
   * ```ts
   * await tokens.revokeAll('42', { except: auth.token.id })
   * ```
   */
  revokeAll(owner: OwnerInput, options: { except?: string; context?: AuditContext } = {}): Promise<number> {
    const started = this.#started()
    return this.#acted('revokeAll', started, null, this.#revokeAll(owner, options))
  }

  async #revokeAll(owner: OwnerInput, options: { except?: string; context?: AuditContext }): Promise<number> {
    const who = tokenOwner(owner, this.#ownerType)
    // The ids of a failed call are unknown: every entry goes.
    const ids = await this.#call('delete', () => this.#store.deleteByOwner(who, options.except)).catch(
      (error: unknown) => {
        this.#cache?.clear()
        throw error
      },
    )
    this.#cache?.invalidate(ids)
    for (const id of ids) {
      this.#tracker?.forget(id)
      this.#record('revoked', options.context, { owner: who, tokenId: id })
    }
    return ids.length
  }

  /**
   * Deletes tokens that expired more than `hours` ago (Sanctum's `sanctum:prune-expired`, default 24): by their own
   * `expiresAt`, and with a global `expiration` also those created more than expiration + hours ago.
   *
   * @example
   * ```ts
   * await tokens.prune({ hours: 24 }) // how many were deleted
   * ```
   */
  prune(options: { hours?: number; context?: AuditContext } = {}): Promise<number> {
    const started = this.#started()
    return this.#acted('prune', started, null, this.#prune(options))
  }

  async #prune(options: { hours?: number; context?: AuditContext }): Promise<number> {
    const hours = options.hours ?? 24
    if (!(Number.isFinite(hours) && hours >= 0)) {
      throw new MisconfigurationError('`prune({ hours })` takes a number of hours, 0 or more.')
    }
    // A cutoff before the year 1 (a long `expiration`, many hours) is the year 1: before it, no store keeps a
    // token, and a database cannot be asked about the years before it.
    const cutoff = this.#now().getTime() - hours * 3_600_000
    const expiredBefore = new Date(Math.max(cutoff, YEAR_ONE))
    const createdBefore =
      this.#expirationMs === null ? null : new Date(Math.max(cutoff - this.#expirationMs, YEAR_ONE))
    // Pruned tokens had expired, so no cached entry could still verify; dropping them all keeps it simple.
    this.#cache?.clear()
    const count = await this.#call('prune', () =>
      this.#store.deleteExpired({ expiredBefore, ...(createdBefore !== null && { createdBefore }) }),
    )
    this.#record('pruned', options.context, { count })
    return count
  }

  /**
   * The latest audit events of the owner's token (newest first, at most `limit`), from the `audit` sink's
   * `recent`; empty without a sink that can read, or for another owner's token.
   *
   * @example
   * ```ts
   * const events = await tokens.recentEvents('42', token.id, 20)
   * ```
   */
  async recentEvents(owner: OwnerInput, id: string, limit = 20): Promise<AuditEvent[]> {
    const who = tokenOwner(owner, this.#ownerType)
    const recent = this.#audit?.recent
    if (!isTokenId(id) || !recent) return []
    const audit = this.#audit
    const events = await this.#call('list', () => recent.call(audit, who, id, limit))
    // The sink is asked for this owner's token only; what else it returns is not shown, so a sink that looks events
    // up by token id alone cannot hand one owner's addresses and clients to another.
    return events
      .filter(
        (event) =>
          event.owner?.type === who.type &&
          event.owner.id === who.id &&
          (event.tokenId === id || event.previousTokenId === id),
      )
      .slice(0, limit)
  }

  /**
   * Writes pending `lastUsedAt` touches and stops following the store's changes: the end of the service's life.
   * Call it before the process exits.
   *
   * @example
   * ```ts
   * process.once('SIGTERM', () => tokens.close().finally(() => process.exit(0)))
   * ```
   */
  async close(): Promise<void> {
    await this.#tracker?.close()
    await this.#unwatch?.()
  }

  // When a management action starts, with telemetry; null without, and then nothing is measured.
  #started(): number | null {
    return this.#telemetry === null ? null : telemetryNow()
  }

  // A management action's result, as it is; with telemetry, told once it has ended.
  #acted<T>(
    action: TokenAction,
    started: number | null,
    tokenId: string | null,
    result: Promise<T>,
  ): Promise<T> {
    if (started === null) return result
    return result.then(
      (value) => {
        this.#actionEnded(action, started, tokenId, value, null)
        return value
      },
      (error: unknown) => {
        this.#actionEnded(action, started, tokenId, undefined, { error })
        throw error
      },
    )
  }

  #actionEnded(
    action: TokenAction,
    startTime: number,
    tokenId: string | null,
    value: unknown,
    failure: { error: unknown } | null,
  ): void {
    const endTime = telemetryNow()
    const error = failure?.error
    // A 4xx is the caller's request refused (bad input, a missing ability); anything else is the service failing.
    const outcome =
      failure !== null
        ? isTokenError(error) && error.status < 500
          ? 'refused'
          : 'error'
        : value === null || value === false
          ? 'not_found'
          : 'ok'
    const count = typeof value === 'number' ? value : Array.isArray(value) ? value.length : null
    // The caller's id only once it named a token the action found: a secret alone fits an id's form, so
    // `revoke(owner, secret)` by mistake, or a client's `DELETE /user/api-tokens/<secret>`, must not put it on a span.
    let id = outcome === 'ok' ? tokenId : null
    if (action === 'create' && failure === null) id = (value as NewAccessToken<P>).token.id
    try {
      this.#telemetry?.action({ action, startTime, endTime, outcome, tokenId: id, count, error })
    } catch (thrown) {
      this.#report(thrown)
    }
  }

  // The tracker's write, with telemetry told how many tokens each flush touched.
  #touch(uses: ReadonlyMap<string, Date>): Promise<void> {
    const startTime = this.#started()
    const written = this.#call('touch', () => this.#store.touch(uses))
    if (startTime === null) return written
    const flushed = (error: unknown) => {
      try {
        this.#telemetry?.flush({ startTime, endTime: telemetryNow(), size: uses.size, error })
      } catch (thrown) {
        this.#report(thrown)
      }
    }
    return written.then(
      () => flushed(undefined),
      (error: unknown) => {
        flushed(error)
        throw error
      },
    )
  }

  #abilities(requested: unknown, grantedBy: AccessToken | null | undefined): string[] {
    // A maker holding `posts:*` may grant `posts:*` or anything under it; one holding `posts:read` cannot grant
    // `posts:*` (its `can('posts:*')` is false), so a scope never widens what the maker holds.
    const abilities = tokenAbilities(requested, this.permissions, this.#allowWildcard)
    if (grantedBy) {
      // A token holding '*' (or a session's TransientToken) can('*'); any other cannot grant the wildcard.
      const missing = abilities.filter((ability) => grantedBy.cant(ability))
      if (missing.length > 0) throw new MissingAbilitiesError(missing)
    }
    return abilities
  }

  // The maker as the store has it now. A request's token was verified when the request began, and its body may
  // take minutes to arrive (Node's default limit is 300 s): a token revoked, narrowed or retired meanwhile must
  // not make, change or regenerate tokens with what it held then. A session (TransientToken) is not stored.
  async #makerNow(maker: AccessToken | null | undefined, now: Date): Promise<AccessToken | null | undefined> {
    if (!maker || isTransientToken(maker)) return maker
    const current = await this.#call('find', async () => this.#store.findById(maker.id))
    if (!current || this.#isExpired(current, now.getTime()) || this.#isIdle(current, now.getTime())) {
      throw new UnauthenticatedError({ tokenRejected: true })
    }
    return this.#token(current)
  }

  // Metadata is part of what a token was granted once a policy reads it: a token made by a token carries its
  // maker's (none for none), and asking for other is refused. A session (TransientToken) sets no bound.
  #passedOn(
    requested: TokenMetadata | undefined,
    maker: AccessToken | null | undefined,
  ): TokenMetadata | undefined {
    if (!maker || isTransientToken(maker)) return requested
    if (requested !== undefined && !sameJson(requested, maker.metadata)) {
      throw new ForbiddenError('A token can only make tokens that carry its own metadata.')
    }
    return tokenMetadata(maker.metadata, Number.POSITIVE_INFINITY)
  }

  // A token made by `maker` ends no later than the maker does; a session (TransientToken) sets no bound. The maker
  // is the store's current one (`#makerNow`), which has not ended.
  #clampedExpiry(requested: Date | null, maker: AccessToken | null | undefined): Date | null {
    if (!maker || isTransientToken(maker)) return requested
    const end = this.#endOf(maker)
    if (end === Number.POSITIVE_INFINITY) return requested
    return requested === null || requested.getTime() > end ? new Date(end) : requested
  }

  // The instant a token stops working, by its own expiry and the global lifetime; Infinity for neither.
  #endOf(token: { readonly expiresAt: Date | null; readonly createdAt: Date }): number {
    const own = token.expiresAt === null ? Number.POSITIVE_INFINITY : token.expiresAt.getTime()
    const global =
      this.#expirationMs === null ? Number.POSITIVE_INFINITY : token.createdAt.getTime() + this.#expirationMs
    return Math.min(own, global)
  }

  #isExpired(record: { readonly expiresAt: Date | null; readonly createdAt: Date }, now: number): boolean {
    if (record.expiresAt !== null && record.expiresAt.getTime() <= now) return true
    return this.#expirationMs !== null && record.createdAt.getTime() + this.#expirationMs <= now
  }

  // The constructor copies only the public fields, so a record (hash included) can be passed as it is.
  #token(record: TokenRecord): PersonalAccessToken<P> {
    return new PersonalAccessToken<P>(record, this.#abilityOptions)
  }

  #fail(reason: AuthenticationFailure, tokenId: string | null, attempt: Attempt | null): null {
    attempt?.refused(reason, tokenId)
    if (this.#hooks.failed) this.#emit(this.#hooks.failed, { reason, tokenId })
    return null
  }

  #emit<T>(hook: (event: T) => void, event: T): void {
    try {
      hook.call(this.#hooks, event)
    } catch (error) {
      this.#report(error)
    }
  }

  #rateLimited(policy: RateLimitPolicy): void {
    try {
      this.#telemetry?.rateLimited?.({ policy })
    } catch (error) {
      this.#report(error)
    }
  }

  // `about` leads the console's line, where there is no hook to hand the error to.
  #report(error: unknown, about = ''): void {
    const hook = this.#hooks.error
    if (hook) {
      try {
        hook(error)
      } catch {
        // An error hook that throws has nowhere left to report to.
      }
      return
    }
    // A write that keeps failing unseen (last uses never written, an audit trail that keeps nothing) is worse than
    // a line in the log. The message only: a driver's error may carry values (a key's) that no message of this
    // library holds. Once a minute per message, so an outage of a shared limiter does not print every request.
    const message = error instanceof Error ? error.message : String(error)
    const now = Date.now()
    if ((this.#printed.get(message) ?? Number.NEGATIVE_INFINITY) > now - 60_000) return
    if (this.#printed.size >= 100) this.#printed.clear()
    this.#printed.set(message, now)
    console.error(
      `@jetstream/tokens: ${about}${message} (give createTokens an \`on.error\` hook to handle such errors)`,
    )
  }

  async #call<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      throw storageError(operation, error)
    }
  }
}

// A TokenError a driver raises on purpose passes through; anything else means the store could not answer.
function storageError(operation: string, error: unknown): Error {
  return isTokenError(error)
    ? error
    : ownMessage(new StorageUnavailableError(`The token store failed to ${operation}.`, { cause: error }))
}

function isStore(store: unknown): store is TokenStore {
  const methods = [
    'insert',
    'findById',
    'findByHash',
    'listByOwner',
    'update',
    'rotate',
    'delete',
    'deleteByOwner',
    'touch',
    'deleteExpired',
  ]
  return (
    typeof store === 'object' &&
    store !== null &&
    methods.every((m) => typeof (store as Record<string, unknown>)[m] === 'function')
  )
}

// Whether two JSON values are equal, whatever the order of their keys.
// What a client sent (its User-Agent; its address, from a forwarding header a proxy is trusted with), as every
// sink and the events route should get it: at most `max` characters, none of them a control or a bidirectional
// formatting character (a terminal's escape, text that reads backwards in a log), each of those shown as U+FFFD.
function clientText(text: string | null | undefined, max: number): string | null {
  if (text === null || text === undefined) return null
  const characters = Array.from(text.slice(0, max * 2)).slice(0, max)
  return characters.join('').replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '\ufffd')
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const keys = Object.keys(a)
  return (
    keys.length === Object.keys(b).length &&
    keys.every((key) => Object.hasOwn(b, key) && sameJson((a as never)[key], (b as never)[key]))
  )
}

// Reads of a token that `rotate`, and a managing token's `update`, make before giving up on one that keeps changing
// under them (a 409).
const ATTEMPTS = 3

// The first instant of the year 1, the earliest a cutoff of `prune` reaches (see there).
const YEAR_ONE = Date.parse('0001-01-01T00:00:00.000Z')
