import { statefulDomains } from '@jetstream/tokens'

/** How long a session lasts, in milliseconds: two hours, in every example app. */
export const SESSION_LIFETIME = 2 * 60 * 60 * 1000

/**
 * Sessions kept on the server, by the random key the cookie carries: signing out deletes the session, so a cookie
 * copied before that is worthless (a cookie that holds the user id itself, signed, stays valid until it expires).
 * In memory, for the examples; a real app keeps them in Redis or its database. Its methods are the store
 * koa-session takes.
 *
 * @example
 * ```ts
 * const sessions = new MemorySessionStore<{ userId: string }>()
 * await sessions.set(key, { userId: '1' }, SESSION_LIFETIME)
 * await sessions.get(key) // { userId: '1' }, until it expires or is destroyed
 * ```
 */
export class MemorySessionStore<T> {
  readonly #sessions = new Map<string, { readonly value: T; readonly expires: number }>()

  async get(key: string): Promise<T | undefined> {
    const session = this.#sessions.get(key)
    if (session === undefined) return undefined
    if (session.expires > Date.now()) return session.value
    this.#sessions.delete(key)
    return undefined
  }

  async set(key: string, value: T, maxAge: number | 'session' | undefined): Promise<void> {
    const now = Date.now()
    // Sessions nobody reads again (a browser that never came back) would otherwise stay for ever: each new one
    // sweeps out the ended ones.
    for (const [other, session] of this.#sessions) if (session.expires <= now) this.#sessions.delete(other)
    const lifetime = typeof maxAge === 'number' ? maxAge : SESSION_LIFETIME
    this.#sessions.set(key, { value, expires: now + lifetime })
  }

  /** How many sessions are kept, ended ones not yet swept included. */
  get size(): number {
    return this.#sessions.size
  }

  async destroy(key: string): Promise<void> {
    this.#sessions.delete(key)
  }
}

/** What {@link signInRefusal} reads of a request. */
export interface SignInRequest {
  readonly contentType: string | undefined
  readonly origin: string | undefined
  readonly referer: string | undefined
  readonly host: string | undefined
}

const fromOwnPage = statefulDomains()

/**
 * Why a sign-in must be refused, or null. Sign-in sits outside `auth` (nobody is signed in yet), so the check
 * `auth` makes of a session request that changes state is made here: a JSON body (a cross-site form cannot send
 * one), from the app's own origin. Without it another site could sign a visitor in as someone else (login CSRF).
 *
 * @example
 * ```ts
 * const refusal = signInRefusal({ contentType, origin, referer, host })
 * if (refusal) return c.json(refusal.body, refusal.status)
 * ```
 */
export function signInRefusal(
  request: SignInRequest,
): { readonly status: 403 | 415; readonly body: { readonly message: string; readonly code: string } } | null {
  if (!/^application\/json\s*(?:;|$)/i.test(request.contentType ?? '')) {
    return {
      status: 415,
      body: { message: 'Send the credentials as application/json.', code: 'unsupported_media_type' },
    }
  }
  if (!fromOwnPage(request)) {
    return {
      status: 403,
      body: { message: 'Sign in from the app’s own page.', code: 'forbidden' },
    }
  }
  return null
}

/** The 404 answer of a path no route has, the same in every example app. */
export const notFound = { message: 'Not found.', code: 'not_found' } as const
