import MemoryStorage from 'rate-limiter-flexible/lib/component/MemoryStorage/MemoryStorage.js'
import { MisconfigurationError, ownMessage, StorageUnavailableError, TooManyRequestsError } from './errors.js'
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
 * window, how many of them each token may spend on an ability, and how many refused authentications each client
 * address may cost.
 *
 * @example
 * ```ts
 * const rateLimit: RateLimitOptions<'read' | 'create'> = {
 *   limit: 600,
 *   window: 60,
 *   abilities: { create: { limit: 10, window: 60 } },
 * }
 * ```
 */
export interface RateLimitOptions<P extends string = string> {
  /** Requests per `window` for each token, and for each session user. */
  readonly limit: number
  /** The window, in seconds; at most 2,147,483 (24 days) without a shared `backend`. */
  readonly window: number
  /**
   * Refused authentications (malformed, unknown, wrong or expired tokens) a client address may make per window;
   * past them, its requests with a token are answered 429 before the store is asked (one the verification cache
   * accepts still passes; one it refuses gets the same 429, so a blocked client cannot tell which ids are cached).
   * A refusal counts once its lookup answers, so lookups already in flight as the limit is reached still run.
   * Default `{ limit: 20, window: 60 }`; `false` to count none.
   */
  readonly failures?: { readonly limit: number; readonly window: number } | false
  /**
   * Limits of their own for some abilities, per token: a request that passes `abilities(…)` or `ability(…)` for a
   * limited ability also spends one of that ability's allowance (for `ability(…)`, of each listed ability the token
   * holds). Requests from the app's own session are counted by `limit` alone.
   */
  readonly abilities?: { readonly [A in P]?: { readonly limit: number; readonly window: number } }
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
  /**
   * Milliseconds a shared backend may take to answer before it counts as failing (`whenUnavailable` then
   * applies). Default 1000. A client that waits for its server to come back (ioredis's offline queue, a pool
   * waiting for a connection) would otherwise hold every request for as long as the outage lasts.
   */
  readonly timeout?: number
  /**
   * This set of limits' name in a shared backend's keys (`jetstream-tokens:<name>:requests:…`): limits that share
   * a backend count apart only under different names. Required for a route group's own limits on a shared
   * backend, which would otherwise count on the service's counters; give one to each service sharing a Redis.
   * Letters, digits, `_` and `-`.
   */
  readonly name?: string
}

/**
 * Which limit refused a request: per token, per session user, per client address, or an ability's per token. In
 * `RateLimit-Policy` an ability's policy is named `ability:<name>`.
 *
 * @example
 * ```ts
 * const policy: RateLimitPolicy = 'session' // RateLimit-Policy: "session";q=600;w=60
 * ```
 */
export type RateLimitPolicy = 'token' | 'session' | 'failures' | 'ability'

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
  readonly #requests: Allowance
  readonly #abilities: ReadonlyMap<string, Allowance>
  readonly #failures: Allowance | null
  readonly #refuse: boolean
  readonly #report: (error: unknown) => void
  readonly #refused: (policy: RateLimitPolicy) => void

  /**
   * `isAbility` tells a name `abilities` may limit: a misspelt one would never be counted, so it is refused here.
   */
  constructor(
    options: RateLimitOptions,
    report: (error: unknown) => void,
    refused: (policy: RateLimitPolicy) => void = () => {},
    isAbility: (name: string) => boolean = () => true,
  ) {
    checkLimit(options, '`rateLimit`')
    // A misspelt option (`whenUnavaliable`) would leave its default in place, silently.
    const unknown = Object.keys(options).filter((key) => !OPTION_NAMES.has(key))
    if (unknown.length > 0) {
      throw new MisconfigurationError(
        `\`rateLimit\` has no option ${unknown.map((key) => `\`${key}\``).join(', ')}; its options are ${[...OPTION_NAMES].join(', ')}.`,
      )
    }
    const name = options.name
    if (name !== undefined && !(typeof name === 'string' && LIMITS_NAME.test(name))) {
      throw new MisconfigurationError('`rateLimit.name` is 1 to 64 letters, digits, `_` or `-`.')
    }
    const keys = name === undefined ? 'jetstream-tokens' : `jetstream-tokens:${name}`
    const failures = options.failures === undefined ? DEFAULT_FAILURES : options.failures
    if (failures !== false) checkLimit(failures, '`rateLimit.failures`')
    const when = options.whenUnavailable ?? 'allow'
    if (when !== 'allow' && when !== 'refuse') {
      throw new MisconfigurationError(
        '`rateLimit.whenUnavailable` is `allow` (fail open) or `refuse` (fail closed).',
      )
    }
    const timeout = options.timeout ?? 1_000
    // A timer past 2^31 - 1 ms fires at once: every call would time out, and nothing be limited.
    if (!(Number.isFinite(timeout) && timeout > 0 && timeout <= MAX_TIMER)) {
      throw new MisconfigurationError(
        `\`rateLimit.timeout\` is a number of milliseconds greater than 0, at most ${MAX_TIMER}.`,
      )
    }
    const shared = options.backend
    if (shared !== undefined && typeof shared !== 'function') {
      throw new MisconfigurationError(
        '`rateLimit.backend` is a function: (options) => a rate-limiter-flexible limiter.',
      )
    }
    const backend: (limit: Parameters<LimiterFactory>[0]) => Limiter | MemoryLimiter = shared
      ? (limit) => new TimedLimiter(limiterFrom(shared, limit), timeout)
      : (limit) => new MemoryLimiter(limit.duration)
    const allowance = (keyPrefix: string, limit: { limit: number; window: number }): Allowance => {
      // The memory backend ends each window with a timer, and a timer past 2^31 - 1 ms fires at once: every
      // count would be dropped as soon as it was made, and nothing ever limited.
      if (!shared && limit.window > MAX_MEMORY_WINDOW) {
        throw new MisconfigurationError(
          `A rate-limit window in memory is at most ${MAX_MEMORY_WINDOW} seconds (24 days): give a shared \`backend\` for longer ones.`,
        )
      }
      return {
        counter: backend({ keyPrefix, points: limit.limit, duration: limit.window }),
        limit: limit.limit,
        window: limit.window,
      }
    }
    this.#requests = allowance(`${keys}:requests`, options)
    const abilities = options.abilities ?? {}
    if (typeof abilities !== 'object' || abilities === null) {
      throw new MisconfigurationError('`rateLimit.abilities` maps ability names to `{ limit, window }`.')
    }
    this.#abilities = new Map(
      Object.entries(abilities).map(([name, limit]) => {
        if (!isAbility(name)) {
          throw new MisconfigurationError(
            `\`rateLimit.abilities\` names \`${name}\`, which is no ability: not a permission of the service's registry.`,
          )
        }
        checkLimit(limit, `\`rateLimit.abilities['${name}']\``)
        return [name, allowance(`${keys}:ability:${name}`, limit as { limit: number; window: number })]
      }),
    )
    this.#failures = failures === false ? null : allowance(`${keys}:failures`, failures)
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
    return this.#spendFrom(this.#requests, policy, policy, `${policy}:${key}`)
  }

  /** Whether any ability has a limit of its own: without one, ability checks spend nothing. */
  get hasAbilityLimits(): boolean {
    return this.#abilities.size > 0
  }

  /**
   * Spends one request of each listed ability's own allowance for this token (abilities without a limit cost
   * nothing); the first refusal, if any.
   *
   * @example
   * ```ts
   * const refusal = await limits.spendAbilities(['create'], token.id)
   * ```
   */
  spendAbilities(abilities: readonly string[], tokenId: string): MaybePromise<Refusal> {
    const spent: MaybePromise<Refusal>[] = []
    for (const ability of abilities) {
      const allowance = this.#abilities.get(ability)
      if (allowance !== undefined)
        spent.push(this.#spendFrom(allowance, 'ability', `ability:${ability}`, tokenId))
    }
    const first = (all: readonly Refusal[]) => all.find((refusal) => refusal !== null) ?? null
    return spent.some(isPromiseLike) ? Promise.all(spent).then(first) : first(spent as Refusal[])
  }

  // One request of `key`'s allowance. `name` is the policy as the 429's headers show it.
  #spendFrom(
    allowance: Allowance,
    policy: RateLimitPolicy,
    name: string,
    key: string,
  ): MaybePromise<Refusal> {
    const { counter, limit, window } = allowance
    const spent = counter.consume(key)
    if (!isPromiseLike(spent)) {
      return spent.consumedPoints > limit ? this.#refusal(policy, name, limit, window, spent) : null
    }
    return spent.then(
      () => null,
      (outcome: unknown) =>
        isLimiterState(outcome)
          ? this.#refusal(policy, name, limit, window, outcome)
          : this.#unavailable(outcome),
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
    if (failures === null) return null
    const { counter, limit, window } = failures
    const judge = (state: LimiterState | null) =>
      state !== null && state.consumedPoints >= limit
        ? this.#refusal('failures', 'failures', limit, window, state)
        : null
    const state = counter.get(addressKey(address))
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
    const counted = this.#failures?.counter.consume(addressKey(address))
    if (!isPromiseLike(counted)) return
    return counted.then(
      () => undefined,
      // Past the limit is what `blocked` reads next time; only a failing backend is news.
      (outcome: unknown) => {
        if (!isLimiterState(outcome)) this.#report(outcome)
      },
    )
  }

  #refusal(
    policy: RateLimitPolicy,
    name: string,
    limit: number,
    window: number,
    state: LimiterState,
  ): TooManyRequestsError {
    this.#refused(policy)
    return new TooManyRequestsError({ policy: name, limit, window, retryAfter: state.msBeforeNext / 1000 })
  }

  #unavailable(error: unknown): StorageUnavailableError | null {
    this.#report(error)
    return this.#refuse
      ? ownMessage(new StorageUnavailableError('The rate limiter is unavailable.', { cause: error }))
      : null
  }
}

/** One allowance: its counter, and the requests it allows per window (seconds). */
interface Allowance {
  readonly counter: Limiter | MemoryLimiter
  readonly limit: number
  readonly window: number
}

/** What a limit answers: the error that refuses the request, or null to let it through. */
type Refusal = TooManyRequestsError | StorageUnavailableError | null

const DEFAULT_FAILURES = Object.freeze({ limit: 20, window: 60 })
// The longest delay a JavaScript timer keeps (2^31 - 1 ms), and in whole seconds.
const MAX_TIMER = 2_147_483_647
const MAX_MEMORY_WINDOW = Math.floor(MAX_TIMER / 1000)
// Every option, kept complete by the compiler: one added to `RateLimitOptions` and not here fails to build.
const OPTION_NAMES: ReadonlySet<string> = new Set(
  Object.keys({
    limit: true,
    window: true,
    failures: true,
    abilities: true,
    backend: true,
    whenUnavailable: true,
    timeout: true,
    name: true,
  } satisfies Record<keyof RateLimitOptions, true>),
)
const LIMITS_NAME = /^[A-Za-z0-9_-]{1,64}$/

// A limiter's answer that the limit is spent, told apart from its backend failing (an Error, or any other value a
// client rejects with: counted as spent, it would refuse with `Retry-After: NaN` and never be reported).
function isLimiterState(outcome: unknown): outcome is LimiterState {
  return typeof (outcome as { msBeforeNext?: unknown } | null)?.msBeforeNext === 'number'
}

// The limiter the app's factory builds, checked once: a factory that returns nothing (or a promise) would fail
// every call, and with `whenUnavailable: 'allow'` limit nothing.
function limiterFrom(factory: LimiterFactory, options: Parameters<LimiterFactory>[0]): Limiter {
  const limiter = factory(options) as Partial<Limiter> | null | undefined
  if (typeof limiter?.consume !== 'function' || typeof limiter.get !== 'function') {
    throw new MisconfigurationError(
      '`rateLimit.backend` must return a limiter (rate-limiter-flexible’s, with `consume` and `get`), not a promise of one or nothing.',
    )
  }
  return limiter as Limiter
}

/**
 * The key a client address counts under: one per client, however its address is written. An IPv4 address as it
 * is, also when it arrives inside IPv6: mapped (`::ffff:203.0.113.7`, from a server listening on `::`), translated
 * (`::ffff:0:…`, `64:ff9b::…`: NAT64 puts every IPv4 client behind one /64) or compatible (`::203.0.113.7`). Any
 * other IPv6 address by its /64, in one spelling, brackets and port or zone dropped, since a client is given a
 * whole /64 and, counted per address, would have 2^64 allowances. Anything else (a name a `clientAddress` gave) as
 * it is.
 *
 * @example
 * ```ts
 * addressKey('[2001:DB8:0:0:1::7]:443') // '2001:db8:0:0::/64'
 * ```
 */
export function addressKey(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address)
  const text = bracketed?.[1] ?? address
  if (!text.includes(':')) return address
  const groups = ipv6Groups(text.toLowerCase().replace(/%.*$/, ''))
  if (groups === null) return address
  const prefix = groups.slice(0, 6).join(':')
  if (IPV4_IN_IPV6.has(prefix)) {
    const [high = 0, low = 0] = groups.slice(6).map((group) => Number.parseInt(group, 16))
    return [high >> 8, high & 255, low >> 8, low & 255].join('.')
  }
  return `${groups.slice(0, 4).join(':')}::/64`
}

// The first 96 bits of the IPv6 forms that carry an IPv4 address in their last 32: mapped, translated (SIIT), the
// NAT64 well-known prefix, and compatible.
const IPV4_IN_IPV6: ReadonlySet<string> = new Set([
  '0:0:0:0:0:ffff',
  '0:0:0:0:ffff:0',
  '64:ff9b:0:0:0:0',
  '0:0:0:0:0:0',
])

// The eight groups of an IPv6 address, each in lower-case hex without leading zeros; null for what is not one.
function ipv6Groups(text: string): string[] | null {
  let tail = text
  // A dotted IPv4 address as the last 32 bits, after a `:` (`1::a1.2.3.4` is no address).
  const dotted = /(?<=:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (dotted) {
    const bytes = dotted.slice(1).map(Number)
    if (bytes.some((byte) => byte > 255)) return null
    const [a = 0, b = 0, c = 0, d = 0] = bytes
    tail = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  } else if (text.includes('.')) {
    return null
  }
  const halves = tail.split('::')
  if (halves.length > 2) return null
  const part = (half: string | undefined) => (half ? half.split(':') : [])
  const head = part(halves[0])
  const rest = part(halves[1])
  const missing = 8 - head.length - rest.length
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null
  const groups = [...head, ...Array<string>(halves.length === 1 ? 0 : missing).fill('0'), ...rest]
  if (!groups.every((group) => /^[0-9a-f]{1,4}$/.test(group))) return null
  return groups.map((group) => Number.parseInt(group, 16).toString(16))
}

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

// A shared backend's answers, each within `timeout`: past it, the call fails as a backend that is down does (its
// late answer is dropped). rate-limiter-flexible's own `RLWrapperTimeouts` takes only its own limiter classes.
class TimedLimiter implements Limiter {
  readonly #limiter: Limiter
  readonly #timeout: number

  constructor(limiter: Limiter, timeout: number) {
    this.#limiter = limiter
    this.#timeout = timeout
  }

  consume(key: string): Promise<LimiterState> {
    return this.#within(() => this.#limiter.consume(key))
  }

  get(key: string): Promise<LimiterState | null> {
    return this.#within(() => this.#limiter.get(key))
  }

  #within<T>(call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`The rate limiter did not answer within ${this.#timeout} ms.`)),
        this.#timeout,
      )
      ;(timer as { unref?: () => void }).unref?.()
      const settle = () => clearTimeout(timer)
      try {
        call().then(
          (value) => {
            settle()
            resolve(value)
          },
          (outcome: unknown) => {
            settle()
            reject(outcome)
          },
        )
      } catch (error) {
        settle()
        reject(error)
      }
    })
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
