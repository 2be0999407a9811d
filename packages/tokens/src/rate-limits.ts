import MemoryStorage from 'rate-limiter-flexible/lib/component/MemoryStorage/MemoryStorage.js'
import { MisconfigurationError, StorageUnavailableError, TooManyRequestsError } from './errors.js'
import { isPromiseLike, type MaybePromise } from './maybe-promise.js'

/**
 * What a rate limiter of rate-limiter-flexible answers (its `RateLimiterRes`): how long until the window resets,
 * and how many requests are spent and left in it.
 *
 * @example
 * ```ts
 * const state: LimiterState = { msBeforeNext: 30_000, remainingPoints: 0, consumedPoints: 61 }
 * ```
 */
export interface LimiterState {
  readonly msBeforeNext: number
  readonly remainingPoints: number
  readonly consumedPoints: number
}

/**
 * The part of a rate-limiter-flexible limiter (`RateLimiterMemory`, `RateLimiterRedis`, `RateLimiterPostgres`…)
 * the service uses. `consume` rejects with the limiter's state when the limit is spent, and with an `Error` when
 * its backend fails.
 *
 * @example
 * ```ts
 * const limiter: Limiter = new RateLimiterRedis({ storeClient: redis, points: 60, duration: 60 })
 * ```
 */
export interface Limiter {
  consume(key: string, points?: number): Promise<LimiterState>
  get(key: string): Promise<LimiterState | null>
}

/**
 * Builds a limiter for one policy: `points` requests per `duration` seconds, its keys under `keyPrefix`. Give one
 * that shares its counters to share limits between instances:
 *
 * @example
 * ```ts
 * import { RateLimiterRedis } from 'rate-limiter-flexible'
 * const backend: LimiterFactory = (options) => new RateLimiterRedis({ storeClient: redis, ...options })
 * ```
 */
export type LimiterFactory = (options: {
  readonly keyPrefix: string
  readonly points: number
  readonly duration: number
}) => Limiter

/**
 * `createTokens({ rateLimit })`: how many requests each token (and each signed-in user's session) may make per
 * window, and how many refused authentications each client address may cost.
 *
 * @example
 * ```ts
 * const rateLimit: RateLimitOptions = { limit: 600, window: 60, failures: { limit: 20, window: 60 } }
 * ```
 */
export interface RateLimitOptions {
  /** Requests per `window` for each token, and for each session user. */
  readonly limit: number
  /** The window, in seconds. */
  readonly window: number
  /**
   * Refused authentications (malformed, unknown, wrong or expired tokens) a client address may make per window;
   * past them, its requests with a token only the store could check are answered 429 before the store is asked. Default `{ limit: 20,
   * window: 60 }`; `false` to count none.
   */
  readonly failures?: { readonly limit: number; readonly window: number } | false
  /**
   * Where the counters live. Default: this process's memory (rate-limiter-flexible's memory storage); for
   * limits shared by several instances, a limiter on Redis or PostgreSQL from rate-limiter-flexible.
   */
  readonly backend?: LimiterFactory
  /**
   * What a request gets while the backend fails: `allow` (fail open, the default: a limiter outage does not take
   * the API down; authentication still applies) or `refuse` (fail closed: 503). Either way the error goes to the
   * service's `on.error`.
   */
  readonly whenUnavailable?: 'allow' | 'refuse'
}

/** The policy names, as `RateLimit-Policy` shows them. */
export type RateLimitPolicy = 'token' | 'session' | 'failures'

/**
 * The rate limits of one service or route group, on rate-limiter-flexible limiters. Each method answers with the
 * error that refuses the request, or null to let it through: at once from the memory backend, through a promise
 * from a shared one.
 *
 * @example
 * ```ts
 * const limits = new RateLimits({ limit: 60, window: 60 }, reportError)
 * const refusal = await limits.spend('token', token.id)
 * ```
 */
export class RateLimits {
  readonly #limit: number
  readonly #window: number
  readonly #requests: Limiter | MemoryLimiter
  readonly #failures: Limiter | MemoryLimiter | null
  readonly #failureLimit: { readonly limit: number; readonly window: number } | null
  readonly #refuse: boolean
  readonly #report: (error: unknown) => void
  readonly #refused: (policy: RateLimitPolicy) => void

  constructor(
    options: RateLimitOptions,
    report: (error: unknown) => void,
    refused: (policy: RateLimitPolicy) => void = () => {},
  ) {
    checkLimit(options, '`rateLimit`')
    const failures = options.failures === undefined ? DEFAULT_FAILURES : options.failures
    if (failures !== false) checkLimit(failures, '`rateLimit.failures`')
    const when = options.whenUnavailable ?? 'allow'
    if (when !== 'allow' && when !== 'refuse') {
      throw new MisconfigurationError(
        '`rateLimit.whenUnavailable` is `allow` (fail open) or `refuse` (fail closed).',
      )
    }
    const backend: (limit: Parameters<LimiterFactory>[0]) => Limiter | MemoryLimiter =
      options.backend ?? ((limit) => new MemoryLimiter(limit.duration))
    if (typeof backend !== 'function') {
      throw new MisconfigurationError(
        '`rateLimit.backend` is a function: (options) => a rate-limiter-flexible limiter.',
      )
    }
    this.#limit = options.limit
    this.#window = options.window
    this.#requests = backend({
      keyPrefix: 'jetstream-tokens:requests',
      points: options.limit,
      duration: options.window,
    })
    this.#failureLimit = failures === false ? null : failures
    this.#failures =
      failures === false
        ? null
        : backend({
            keyPrefix: 'jetstream-tokens:failures',
            points: failures.limit,
            duration: failures.window,
          })
    this.#refuse = when === 'refuse'
    this.#report = report
    this.#refused = refused
  }

  /**
   * Spends one request of `key`'s allowance under `policy` (`token` by token id, `session` by user id).
   *
   * @example
   * ```ts
   * const refusal = await limits.spend('session', String(user.id))
   * ```
   */
  spend(policy: 'token' | 'session', key: string): MaybePromise<Refusal> {
    const spent = this.#requests.consume(`${policy}:${key}`)
    if (!isPromiseLike(spent)) {
      return spent.consumedPoints > this.#limit
        ? this.#refusal(policy, this.#limit, this.#window, spent)
        : null
    }
    return spent.then(
      () => null,
      (outcome: unknown) =>
        outcome instanceof Error
          ? this.#unavailable(outcome)
          : this.#refusal(policy, this.#limit, this.#window, outcome as LimiterState),
    )
  }

  /**
   * Whether `address` has spent its refused authentications: then its requests with a token are refused before
   * the store is asked.
   *
   * @example
   * ```ts
   * const refusal = await limits.blocked('203.0.113.7')
   * ```
   */
  blocked(address: string): MaybePromise<Refusal> {
    const failures = this.#failures
    const limit = this.#failureLimit
    if (failures === null || limit === null) return null
    const judge = (state: LimiterState | null) =>
      state !== null && state.consumedPoints >= limit.limit
        ? this.#refusal('failures', limit.limit, limit.window, state)
        : null
    const state = failures.get(address)
    return isPromiseLike(state)
      ? state.then(judge, (error: unknown) => this.#unavailable(error))
      : judge(state)
  }

  /**
   * Counts a refused authentication against `address`.
   *
   * @example
   * ```ts
   * await limits.failed('203.0.113.7')
   * ```
   */
  failed(address: string): MaybePromise<void> {
    const counted = this.#failures?.consume(address)
    if (!isPromiseLike(counted)) return
    return counted.then(
      () => undefined,
      // Past the limit is what `blocked` reads next time; only a failing backend is news.
      (outcome: unknown) => {
        if (outcome instanceof Error) this.#report(outcome)
      },
    )
  }

  #refusal(
    policy: RateLimitPolicy,
    limit: number,
    window: number,
    state: LimiterState,
  ): TooManyRequestsError {
    this.#refused(policy)
    return new TooManyRequestsError({ policy, limit, window, retryAfter: state.msBeforeNext / 1000 })
  }

  #unavailable(error: unknown): StorageUnavailableError | null {
    this.#report(error)
    return this.#refuse
      ? new StorageUnavailableError('The rate limiter is unavailable.', { cause: error })
      : null
  }
}

/** What a limit answers: the error that refuses the request, or null to let it through. */
type Refusal = TooManyRequestsError | StorageUnavailableError | null

const DEFAULT_FAILURES = Object.freeze({ limit: 20, window: 60 })

// The memory backend: the counters rate-limiter-flexible's `RateLimiterMemory` keeps (its `MemoryStorage`: a
// fixed window per key, dropped when it ends), asked directly. `RateLimiterMemory` hands the same answer through a
// promise, and a request that needs no lookup would then no longer be answered at once; measured on the cached
// Hono route (bench/, `limits`), see the commit that brought this.
class MemoryLimiter {
  readonly #storage = new MemoryStorage()
  readonly #duration: number

  constructor(duration: number) {
    this.#duration = duration
  }

  // Unlike a limiter's `consume`, this never refuses: the caller compares the points spent with its limit.
  consume(key: string): LimiterState {
    return this.#storage.incrby(key, 1, this.#duration)
  }

  get(key: string): LimiterState | null {
    return this.#storage.get(key)
  }
}

function checkLimit(options: unknown, what: string): void {
  const { limit, window } = (options ?? {}) as { limit?: unknown; window?: unknown }
  if (!(Number.isSafeInteger(limit) && (limit as number) > 0)) {
    throw new MisconfigurationError(`${what}.limit is a whole number of requests, 1 or more.`)
  }
  if (!(Number.isSafeInteger(window) && (window as number) > 0)) {
    throw new MisconfigurationError(`${what}.window is a whole number of seconds, 1 or more.`)
  }
}
