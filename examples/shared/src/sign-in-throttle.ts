import { signIn, type User } from './users.js'

/**
 * Jetstream's sign-in throttle (Fortify's `LoginRateLimiter`): five failed sign-ins a minute for one email from
 * one address, then a 429 until the minute is over; a sign-in that succeeds clears the count. Keyed by email and
 * address together, as Fortify does, so that guessing one user's password from one machine does not lock that user
 * out everywhere. In memory, as the sessions are; a real app keeps the counts where its instances share them.
 *
 * @example
 * ```ts
 * const throttle = new SignInThrottle()
 * const refusal = throttle.refusal(email, address)
 * if (refusal) return c.json(refusal.body, 429, { 'retry-after': String(refusal.retryAfter) })
 * ```
 */
export class SignInThrottle {
  readonly #failures = new Map<string, { count: number; readonly resetAt: number }>()
  readonly #limit: number
  readonly #window: number
  readonly #now: () => number

  constructor(options: { limit?: number; window?: number; now?: () => number } = {}) {
    this.#limit = options.limit ?? 5
    this.#window = options.window ?? 60_000
    this.#now = options.now ?? Date.now
  }

  /**
   * Signs in with these credentials unless this email has failed too often from this address: the user, or the
   * answer that refuses (429 with `Retry-After`, or Fortify's 422), the same in every example app.
   *
   * @example
   * ```ts
   * const result = throttle.attempt(fields.email, fields.password, address)
   * if ('refusal' in result) return c.json(result.refusal.body, result.refusal.status, result.refusal.headers)
   * ```
   */
  attempt(email: unknown, password: unknown, address: string | undefined): SignInResult {
    const throttled = this.refusal(email, address)
    if (throttled) {
      const headers = { 'retry-after': String(throttled.retryAfter) }
      return { refusal: { status: 429, body: throttled.body, headers } }
    }
    const user = signIn(email, password)
    if (!user) {
      this.failed(email, address)
      const message = 'These credentials do not match our records.'
      return {
        refusal: {
          status: 422,
          body: { message, code: 'invalid_input', errors: { email: [message] } },
          headers: {},
        },
      }
    }
    this.succeeded(email, address)
    return { user }
  }

  /** The 429 to answer when this email has failed too often from this address, else null. */
  refusal(
    email: unknown,
    address: string | undefined,
  ): { readonly retryAfter: number; readonly body: SignInRefusalBody } | null {
    const entry = this.#failures.get(keyOf(email, address))
    const now = this.#now()
    if (!entry || entry.resetAt <= now || entry.count < this.#limit) return null
    const retryAfter = Math.ceil((entry.resetAt - now) / 1_000)
    const message = `Too many login attempts. Please try again in ${retryAfter} seconds.`
    return { retryAfter, body: { message, code: 'too_many_requests', errors: { email: [message] } } }
  }

  /** Counts a failed sign-in. */
  failed(email: unknown, address: string | undefined): void {
    const now = this.#now()
    // Counts whose minute is over would otherwise stay for ever: each failure sweeps them out. They are kept in the
    // order their minutes end, so the sweep stops at the first that has not.
    for (const [key, entry] of this.#failures) {
      if (entry.resetAt > now) break
      this.#failures.delete(key)
    }
    const key = keyOf(email, address)
    const entry = this.#failures.get(key)
    if (entry) entry.count++
    else this.#failures.set(key, { count: 1, resetAt: now + this.#window })
  }

  /** Forgets the failures of a sign-in that succeeded. */
  succeeded(email: unknown, address: string | undefined): void {
    this.#failures.delete(keyOf(email, address))
  }
}

/** What {@link SignInThrottle.attempt} gives: the user signed in, or the answer refusing the sign-in. */
type SignInResult =
  | { readonly user: User }
  | {
      readonly refusal: {
        readonly status: 422 | 429
        readonly body: {
          readonly message: string
          readonly code: string
          readonly errors: { readonly email: readonly string[] }
        }
        readonly headers: Readonly<Record<string, string>>
      }
    }

/** What a refused sign-in answers, as Fortify's 429: the message under `email` too, where the form shows it. */
interface SignInRefusalBody {
  readonly message: string
  readonly code: 'too_many_requests'
  readonly errors: { readonly email: readonly string[] }
}

// Fortify lower-cases the email: `Demo@Example.com` and `demo@example.com` are one count.
function keyOf(email: unknown, address: string | undefined): string {
  return `${typeof email === 'string' ? email.toLowerCase() : ''}|${address ?? ''}`
}
