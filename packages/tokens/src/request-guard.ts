import { type AccessToken, type Auth, isSignedIn } from './auth.js'
import { ForbiddenError, MisconfigurationError, UnauthenticatedError } from './errors.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { authorize, type Policy } from './policies.js'
import { statefulDomains } from './stateful-domains.js'
import type { TokenService } from './token-service.js'
import { TransientToken } from './transient-token.js'

type MaybePromise<T> = T | Promise<T>

/**
 * What the guard needs to read from a request, whatever the framework.
 *
 * @example
 * ```ts
 * const facts: GuardedRequest = { method: req.method, header: (name) => req.headers[name] as string | undefined }
 * ```
 */
export interface GuardedRequest {
  /** The HTTP method, any case. */
  readonly method: string
  /** A request header by lower-case name, or undefined. */
  header(name: string): string | undefined
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
const BEARER = /^Bearer +(\S+) *$/i

/**
 * Sanctum's guard, without a framework: the app's session first (a {@link TransientToken}), else the bearer token
 * (a {@link PersonalAccessToken} and its owner), else a guest. Adapters call {@link RequestGuard.resolve} once per
 * request.
 *
 * @example
 * ```ts
 * const guard = new RequestGuard(tokens, { session: (req) => req.session.user, user: (token) => users.find(token.owner.id) })
 * const auth = await guard.resolve(req, { method: req.method, header: (name) => req.headers[name] })
 * ```
 */
export class RequestGuard<U, P extends string, R> {
  readonly #tokens: TokenService<P>
  readonly #options: RequestGuardOptions<U, P, R>
  readonly #firstParty: ReturnType<typeof statefulDomains>
  readonly #tokenHeader: string | null

  constructor(tokens: TokenService<P>, options: RequestGuardOptions<U, P, R>) {
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
    this.#tokens = tokens
    this.#options = { ...options }
    this.#firstParty = statefulDomains(options.statefulDomains)
    this.#tokenHeader = typeof token === 'string' ? token.toLowerCase() : null
  }

  /**
   * The auth of a request. A session request that changes state from a foreign origin throws `ForbiddenError`
   * (403); a store that cannot answer throws `StorageUnavailableError` (503). Everything else resolves: a refused
   * token gives a guest with `tokenRejected`.
   *
   * @example
   * ```ts
   * const auth = await guard.resolve(c, { method: c.req.method, header: (name) => c.req.header(name) })
   * ```
   */
  async resolve(request: R, facts: GuardedRequest): Promise<RequestAuth<U, P>> {
    // `await` only real promises: every tick counts on the path each request takes (bench/).
    const session = this.#options.session ? this.#options.session(request) : null
    const sessionUser = session instanceof Promise ? await session : session
    if (sessionUser !== null && sessionUser !== undefined) {
      if (STATE_CHANGING.has(facts.method.toUpperCase()) && !this.#fromFirstParty(facts)) {
        throw new ForbiddenError(
          'This request changes state and did not come from one of the app’s own origins.',
        )
      }
      return createRequestAuth(sessionUser, new TransientToken(), false)
    }

    const plainText = this.#plainText(request, facts)
    if (plainText === null) return createRequestAuth<U, P>(null, null, false)
    const token = plainText === '' ? null : await this.#tokens.authenticate(plainText)
    const found = token ? this.#options.user(token, request) : null
    const owner = found instanceof Promise ? await found : found
    if (!token || owner === null || owner === undefined) return createRequestAuth<U, P>(null, null, true)
    return createRequestAuth(owner, token, false)
  }

  #fromFirstParty(facts: GuardedRequest): boolean {
    return this.#firstParty({
      origin: facts.header('origin'),
      referer: facts.header('referer'),
      host: facts.header('host'),
    })
  }

  // null: no token presented. '': a token was presented but is malformed (refused without a lookup).
  #plainText(request: R, facts: GuardedRequest): string | null {
    const source = this.#options.token
    if (typeof source === 'function') {
      const value = source(request)
      return value === null || value === undefined ? null : value.trim()
    }
    if (this.#tokenHeader !== null) {
      const value = facts.header(this.#tokenHeader)
      return value === undefined ? null : value.trim()
    }
    const authorization = facts.header('authorization')
    if (authorization === undefined || !/^bearer(?: |$)/i.test(authorization)) return null
    return BEARER.exec(authorization)?.[1] ?? ''
  }
}

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
): RequestAuth<U, P> {
  // One object literal, no spread of `createAuth`'s result: this runs on every request, and spreading an object of
  // closures showed up at 5 % of a Koa server's busy time.
  const auth: RequestAuth<U, P> = {
    user,
    token,
    tokenRejected,
    tokenCan: (ability) => token?.can(ability) === true,
    tokenCant: (ability) => token === null || token.cant(ability),
    authorize: (policy, resource) =>
      // A guest whose token was refused keeps that fact, for `WWW-Authenticate: … error="invalid_token"`.
      isSignedIn(auth)
        ? authorize(auth, policy, resource)
        : Promise.reject(new UnauthenticatedError({ tokenRejected })),
  }
  return auth
}
