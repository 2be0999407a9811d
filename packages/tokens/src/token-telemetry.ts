import type { AuditContext } from './audit-log.js'
import type { TokenOwner } from './token-owner.js'
import type { AuthenticationFailure } from './token-service.js'

/**
 * How an authentication ended: the token was accepted, refused (see the `reason`), or the service could not tell
 * (the store failed, or the app's `authenticateUsing` threw).
 *
 * @example
 * ```ts
 * const outcome: AuthenticationOutcome = 'refused'
 * ```
 */
export type AuthenticationOutcome = 'accepted' | 'refused' | 'error'

/**
 * What the service reports at the end of each authentication, through `authenticate` or the adapters' `auth`
 * middleware. It never holds the plain text, the secret or the hash.
 *
 * @example
 * ```ts
 * const telemetry: TokenTelemetry = {
 *   authentication: (event) => log.info({ outcome: event.outcome, reason: event.reason, ms: event.endTime - event.startTime }),
 *   action: () => {},
 *   flush: () => {},
 * }
 * ```
 */
export interface AuthenticationEvent {
  /** When it started and ended, in epoch milliseconds from the runtime's high-resolution clock (`performance`). */
  readonly startTime: number
  readonly endTime: number
  readonly outcome: AuthenticationOutcome
  /** Why the token was refused; null unless `outcome` is `refused`. */
  readonly reason: AuthenticationFailure | null
  /**
   * Whether the verification cache held the token; null when it was not asked (no `cache`, or a plain text
   * refused before any lookup).
   */
  readonly cacheHit: boolean | null
  /** Milliseconds spent waiting for the store's lookup; null when the store was not asked (a cache hit, say). */
  readonly storeMs: number | null
  /**
   * The id part of the token, when the plain text had a well-formed one. Not a secret, but an attacker may make
   * it up: the OpenTelemetry entry records it only when asked to (`recordTokenId`).
   */
  readonly tokenId: string | null
  /** What was thrown, when `outcome` is `error`; else undefined. */
  readonly error: unknown
}

/**
 * A management action of the token service, as its method is named.
 *
 * @example
 * ```ts
 * const action: TokenAction = 'revokeAll'
 * ```
 */
export type TokenAction = 'create' | 'list' | 'update' | 'rotate' | 'revoke' | 'revokeAll' | 'prune'

/**
 * How a management action ended: done, not done because the owner has no token with that id (`update`, `rotate`
 * and `revoke` answer null or false), refused (a 4xx error: bad input, a missing ability), or failed (the store,
 * or anything else).
 *
 * @example
 * ```ts
 * const outcome: ActionOutcome = 'not_found'
 * ```
 */
export type ActionOutcome = 'ok' | 'not_found' | 'refused' | 'error'

/**
 * What the service reports at the end of each management action. Never the plain text `create` and `rotate`
 * return.
 *
 * @example
 * ```ts
 * const event: ActionEvent = {
 *   action: 'revoke', startTime: 1764590400000, endTime: 1764590400002, outcome: 'ok', tokenId: '7', count: null, error: undefined,
 * }
 * ```
 */
export interface ActionEvent {
  readonly action: TokenAction
  /** In epoch milliseconds, as in {@link AuthenticationEvent}. */
  readonly startTime: number
  readonly endTime: number
  readonly outcome: ActionOutcome
  /**
   * The token acted on: the one created, or the id given to `update`, `rotate` or `revoke` when it found that token
   * (`outcome` `ok`); else null, since an id that named nothing may be anything a caller typed, a secret included.
   */
  readonly tokenId: string | null
  /** How many tokens `list` returned, or `revokeAll` or `prune` deleted; else null. */
  readonly count: number | null
  /** What was thrown, when `outcome` is `refused` or `error`; else undefined. */
  readonly error: unknown
}

/**
 * What the service reports after each write of coalesced last-used touches.
 *
 * @example
 * ```ts
 * const event: FlushEvent = { startTime: 1764590400000, endTime: 1764590400004, size: 12, error: undefined }
 * ```
 */
export interface FlushEvent {
  /** In epoch milliseconds, as in {@link AuthenticationEvent}. */
  readonly startTime: number
  readonly endTime: number
  /** How many tokens the write touched (or tried to: a failed batch is retried with the next one). */
  readonly size: number
  /** What the store threw, when the write failed; else undefined. */
  readonly error: unknown
}

/**
 * A request a rate limit refused.
 *
 * @example
 * ```ts
 * const event: RateLimitEvent = { policy: 'token' }
 * ```
 */
export interface RateLimitEvent {
  /**
   * Which limit refused it, a name of few values (`token`, `session`, `failures`, `ability`). Never the key it
   * counted by (a token id, a user id, an address): those are unbounded and some are personal.
   */
  readonly policy: string
}

/**
 * Where the token service reports what it did, once each authentication or action has ended: plain facts, for
 * `openTelemetry()` from `@jetstream/tokens/opentelemetry` (spans and metrics) or your own recorder. Pass it as
 * `createTokens({ telemetry })`; without it the service reports nothing and spends nothing on it. The service
 * calls these synchronously and never awaits them; one that throws is reported to `on.error` and ignored.
 *
 * Through the adapters' `auth` middleware an authentication ends once the app's `user` has answered: a token
 * whose owner it does not find is `refused` with the reason `rejected`, like a veto from `authenticateUsing`.
 *
 * @example
 * ```ts
 * const seen: AuthenticationEvent[] = []
 * const tokens = createTokens({
 *   store,
 *   telemetry: { authentication: (event) => seen.push(event), action: () => {}, flush: () => {} },
 * })
 * ```
 */
export interface TokenTelemetry {
  /** An authentication ended. */
  authentication(event: AuthenticationEvent): void
  /** A management action (`create`, `list`, `update`, `rotate`, `revoke`, `revokeAll`, `prune`) ended. */
  action(event: ActionEvent): void
  /** A write of last-used touches ended. */
  flush(event: FlushEvent): void
  /** A rate limit refused a request. Called by the rate limiter, when the service has one. */
  rateLimited?(event: RateLimitEvent): void
}

/**
 * Now, in epoch milliseconds with a fraction: the high-resolution clock every runtime lends (`performance`), so a
 * span a few microseconds long keeps its length. For the token service of this package; not exported to apps.
 *
 * @example
 * ```ts
 * const startTime = telemetryNow()
 * ```
 */
export function telemetryNow(): number {
  return performance.timeOrigin + performance.now()
}

/**
 * One authentication while it runs, built only when the service has telemetry; it becomes the
 * {@link AuthenticationEvent} it reports. For the token service of this package; not exported to apps.
 *
 * @example
 * ```ts
 * const attempt = new Attempt()
 * attempt.asking('7')
 * attempt.answered()
 * ```
 */
export class Attempt implements AuthenticationEvent {
  readonly startTime: number = telemetryNow()
  endTime = 0
  outcome: AuthenticationOutcome = 'accepted'
  reason: AuthenticationFailure | null = null
  cacheHit: boolean | null = null
  storeMs: number | null = null
  tokenId: string | null = null
  error: unknown
  // For the audit trail, not part of the event telemetry sees: the stored token's owner, once one was found, and
  // the request behind the authentication.
  #owner: TokenOwner | null = null
  #context: AuditContext | null
  #asked = 0

  constructor(context: AuditContext | null = null) {
    this.#context = context
  }

  /** The owner of the token found, for the audit trail; null before one was found. */
  get owner(): TokenOwner | null {
    return this.#owner
  }

  /** The request behind the authentication, for the audit trail. */
  get context(): AuditContext | null {
    return this.#context
  }

  /** A stored token was found: its owner, for the audit trail. */
  found(owner: TokenOwner): void {
    this.#owner = owner
  }

  /** The verification cache was asked about this token, and held it or not. */
  cached(hit: boolean): void {
    this.cacheHit = hit
  }

  /** A store lookup starts, for the token with this id (null when the plain text has none). */
  asking(tokenId: string | null): void {
    this.tokenId = tokenId
    this.#asked = performance.now()
  }

  /** The store answered, or failed: the wait is added (a token without its id may take a lookup per hash key). */
  answered(): void {
    this.storeMs = (this.storeMs ?? 0) + (performance.now() - this.#asked)
  }

  /** The service refused the token. */
  refused(reason: AuthenticationFailure, tokenId: string | null): void {
    this.outcome = 'refused'
    this.reason = reason
    this.tokenId = tokenId
  }
}
