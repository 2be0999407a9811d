import { type AccessToken, type Auth, isSignedIn } from './auth.js'
import {
  ForbiddenError,
  isTokenError,
  MisconfigurationError,
  type TokenError,
  UnauthenticatedError,
} from './errors.js'
import { isPromiseLike, type MaybePromise } from './maybe-promise.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { authorize, type Policy } from './policies.js'
import { statefulDomains } from './stateful-domains.js'
import { type TokenService, verifyToken } from './token-service.js'
import { TransientToken } from './transient-token.js'

/**
 * How an adapter reads its framework's request, given once when the guard is built (so a request costs no object
 * of its own), and how it wants refusals thrown.
 *
 * @example
 * ```ts
 * const adapter: GuardAdapter<IncomingMessage> = {
 *   method: (req) => req.method ?? 'GET',
 *   header: (req, name) => req.headers[name] as string | undefined,
 * }
 * ```
 */
export interface GuardAdapter<R> {
  /** The HTTP method, any case. */
  method(request: R): string
  /** A request header by lower-case name, or undefined. */
  header(request: R, name: string): string | undefined
  /**
   * What `auth.authorize` throws in place of the core's refusal (`UnauthenticatedError`, `ForbiddenError`): Hono
   * gives an `HTTPException`, which it answers by itself. Default: the core's error.
   */
  refusal?(error: TokenError): unknown
}

/**
 * How the app signs users in; the options every adapter's `auth(tokens, options)` takes. `R` is the framework's request.
 *
 * @example
 * ```ts
 * const options: RequestGuardOptions<User, Permission, Request> = { session: (req) => req.user ?? null, user: (token) => users.find(token.owner.id) }
 * ```
 */
export interface RequestGuardOptions<U, P extends string, R> {
  /**
   * The user signed in through the app's own session (a cookie), or null. Such a request gets a
   * {@link TransientToken}: it can do everything.
   */
  readonly session?: (request: R) => MaybePromise<U | null | undefined>
  /** The user who owns a verified token, or null when there is none any more (the token is then refused). */
  readonly user: (token: PersonalAccessToken<P>, request: R) => MaybePromise<U | null | undefined>
  /**
   * Where the token is: a header name (its whole value is the token), or a function. Default: `Authorization:
   * Bearer …`.
   */
  readonly token?: string | ((request: R) => string | null | undefined)
  /**
   * The app's own front ends (Sanctum's `stateful` domains): hosts, `host:port`, or `*.example.com`. A session
   * request that changes state (POST, PUT, PATCH, DELETE) must come from one of them (by `Origin`, else
   * `Referer`). Default: the request's own `Host`.
   */
  readonly statefulDomains?: readonly string[]
}

/**
 * What every adapter's `auth(tokens, options)` takes: the guard's options, plus whether a route group needs auth.
 *
 * @example
 * ```ts
 * app.use('/maybe/*', auth(tokens, { user: findOwner, required: false, realm: 'acme' }))
 * ```
 */
export interface AuthMiddlewareOptions<U, P extends string, R> extends RequestGuardOptions<U, P, R> {
  /** Answer 401 when the request is not signed in. Default true; false merely reads the auth. */
  readonly required?: boolean
  /** The realm in `WWW-Authenticate`. Default `api`. */
  readonly realm?: string
}

/**
 * The auth of one request, as every adapter exposes it (`c.var.auth`, `ctx.state.auth`, `req.auth`).
 *
 * @example
 * ```ts
 * const auth: RequestAuth<User, Permission> = c.var.auth
 * if (auth.tokenRejected) console.warn('a token was refused')
 * ```
 */
export interface RequestAuth<U = unknown, P extends string = string> extends Auth<U, P> {
  /** True when the request presented a token that was refused (for `WWW-Authenticate: … error="invalid_token"`). */
  readonly tokenRejected: boolean
  /**
   * Asks a policy; throws `UnauthenticatedError` (401) for a guest, `ForbiddenError` (403) when it says no.
   */
  authorize<Resource>(policy: Policy<U, P, Resource>, resource: Resource): Promise<void>
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Sanctum's guard, without a framework: the app's session first (a {@link TransientToken}), else the bearer token
 * (a {@link PersonalAccessToken} and its owner), else a guest. Adapters call {@link RequestGuard.resolve} once per
 * request.
 *
 * @example
 * ```ts
 * const guard = new RequestGuard(tokens, { session: (req) => req.session.user, user: (token) => users.find(token.owner.id) }, {
 *   method: (req) => req.method,
 *   header: (req, name) => req.headers[name],
 * })
 * const auth = await guard.resolve(req)
 * ```
 */
export class RequestGuard<U, P extends string, R> {
  readonly #tokens: TokenService<P>
  readonly #options: RequestGuardOptions<U, P, R>
  readonly #adapter: GuardAdapter<R>
  readonly #firstParty: ReturnType<typeof statefulDomains>
  readonly #tokenHeader: string | null
  // Guests hold nothing of their request, so two answers serve them all.
  readonly #guest: RequestAuth<U, P>
  readonly #refused: RequestAuth<U, P>

  constructor(tokens: TokenService<P>, options: RequestGuardOptions<U, P, R>, adapter: GuardAdapter<R>) {
    if (typeof tokens?.authenticate !== 'function') {
      throw new MisconfigurationError(
        'The auth middleware needs the token service: auth(createTokens({ … }), options).',
      )
    }
    if (typeof options?.user !== 'function') {
      throw new MisconfigurationError(
        'The auth middleware needs `user`: (token) => the user who owns the token, or null.',
      )
    }
    if (options.session !== undefined && typeof options.session !== 'function') {
      throw new MisconfigurationError('`session` is a function: (request) => the signed-in user, or null.')
    }
    const token = options.token
    if (token !== undefined && typeof token !== 'function' && (typeof token !== 'string' || token === '')) {
      throw new MisconfigurationError('`token` is a header name or a function (request) => the token.')
    }
    if (typeof adapter?.method !== 'function' || typeof adapter.header !== 'function') {
      throw new MisconfigurationError(
        'RequestGuard needs the adapter: { method: (request) => …, header: (request, name) => … }.',
      )
    }
    this.#tokens = tokens
    this.#options = { ...options }
    this.#adapter = adapter
    this.#firstParty = statefulDomains(options.statefulDomains)
    this.#tokenHeader = typeof token === 'string' ? token.toLowerCase() : null
    this.#guest = Object.freeze(createRequestAuth<U, P>(null, null, false, adapter.refusal))
    this.#refused = Object.freeze(createRequestAuth<U, P>(null, null, true, adapter.refusal))
  }

  /**
   * The auth of a request: at once when no lookup was needed (a guest, a session, a cached token), else a
   * promise. A session request that changes state from a foreign origin throws `ForbiddenError` (403); a store
   * that cannot answer rejects with `StorageUnavailableError` (503). Everything else resolves: a refused token
   * gives a guest with `tokenRejected`.
   *
   * @example
   * ```ts
   * const resolved = guard.resolve(c)
   * const auth = resolved instanceof Promise ? await resolved : resolved
   * ```
   */
  resolve(request: R): RequestAuth<U, P> | Promise<RequestAuth<U, P>> {
    // Nothing is awaited that is not a promise: every tick counts on the path each request takes (bench/).
    const session = this.#options.session ? this.#options.session(request) : null
    return isPromiseLike(session)
      ? Promise.resolve(session).then((user) => this.#afterSession(request, user))
      : this.#afterSession(request, session)
  }

  #afterSession(
    request: R,
    sessionUser: U | null | undefined,
  ): RequestAuth<U, P> | Promise<RequestAuth<U, P>> {
    if (sessionUser !== null && sessionUser !== undefined) {
      if (STATE_CHANGING.has(this.#adapter.method(request).toUpperCase()) && !this.#fromFirstParty(request)) {
        throw new ForbiddenError(
          'This request changes state and did not come from one of the app’s own origins.',
        )
      }
      return createRequestAuth(sessionUser, new TransientToken(), false, this.#adapter.refusal)
    }
    const plainText = this.#plainText(request)
    if (plainText === null) return this.#guest
    if (plainText === '') return this.#refused
    const token = verifyToken(this.#tokens, plainText)
    return token instanceof Promise
      ? token.then((found) => this.#owner(request, found))
      : this.#owner(request, token)
  }

  #owner(request: R, token: PersonalAccessToken<P> | null): RequestAuth<U, P> | Promise<RequestAuth<U, P>> {
    if (token === null) return this.#refused
    const found = this.#options.user(token, request)
    return isPromiseLike(found)
      ? Promise.resolve(found).then((owner) => this.#signedIn(owner, token))
      : this.#signedIn(found, token)
  }

  #signedIn(owner: U | null | undefined, token: PersonalAccessToken<P>): RequestAuth<U, P> {
    return owner === null || owner === undefined
      ? this.#refused
      : createRequestAuth(owner, token, false, this.#adapter.refusal)
  }

  #fromFirstParty(request: R): boolean {
    const { header } = this.#adapter
    return this.#firstParty({
      origin: header(request, 'origin'),
      referer: header(request, 'referer'),
      host: header(request, 'host'),
    })
  }

  // null: no token presented. '': a token was presented but is malformed (refused without a lookup).
  #plainText(request: R): string | null {
    const source = this.#options.token
    if (typeof source === 'function') {
      const value = source(request)
      return value === null || value === undefined ? null : value.trim()
    }
    if (this.#tokenHeader !== null) {
      const value = this.#adapter.header(request, this.#tokenHeader)
      return value === undefined ? null : value.trim()
    }
    return bearerToken(this.#adapter.header(request, 'authorization'))
  }
}

// RFC 6750's `Bearer <token>`, scheme in any case. null: no bearer credentials; '': the bearer scheme without a
// token. Written out rather than as regular expressions, since it runs on every request; what lies between the
// spaces is the parser's to refuse.
function bearerToken(authorization: string | undefined): string | null {
  if (authorization === undefined || authorization.length < 6) return null
  // `| 0x20` lower-cases an ASCII letter, and maps no other character onto one of these letters.
  for (let i = 0; i < 6; i++) if ((authorization.charCodeAt(i) | 0x20) !== SCHEME.charCodeAt(i)) return null
  if (authorization.length === 6) return ''
  if (authorization.charCodeAt(6) !== SPACE) return null
  let start = 7
  while (authorization.charCodeAt(start) === SPACE) start++
  let end = authorization.length
  while (end > start && authorization.charCodeAt(end - 1) === SPACE) end--
  return authorization.slice(start, end)
}

const SPACE = 32
const SCHEME = 'bearer'

/**
 * A {@link RequestAuth}: {@link createAuth} plus `tokenRejected` and `authorize`. The guard builds these; tests
 * may too.
 *
 * @example
 * ```ts
 * const auth = createRequestAuth(user, new TransientToken())
 * await auth.authorize(posts.update, post)
 * ```
 */
export function createRequestAuth<U, P extends string = string>(
  user: U | null,
  token: AccessToken<P> | null,
  tokenRejected = false,
  refusal?: (error: TokenError) => unknown,
): RequestAuth<U, P> {
  // One object literal, no spread of `createAuth`'s result: this runs on every request, and spreading an object of
  // closures showed up at 5 % of a Koa server's busy time.
  const auth: RequestAuth<U, P> = {
    user,
    token,
    tokenRejected,
    tokenCan: (ability) => token?.can(ability) === true,
    tokenCant: (ability) => token === null || token.cant(ability),
    authorize: (policy, resource) => {
      // A guest whose token was refused keeps that fact, for `WWW-Authenticate: … error="invalid_token"`.
      const asked = isSignedIn(auth)
        ? authorize(auth, policy, resource)
        : Promise.reject(new UnauthenticatedError({ tokenRejected }))
      return refusal ? asked.catch((error: unknown) => Promise.reject(refuse(error, refusal))) : asked
    },
  }
  return auth
}

function refuse(error: unknown, refusal: (error: TokenError) => unknown): unknown {
  return isTokenError(error) ? refusal(error) : error
}
