import type { AuditContext } from './audit-log.js'
import { type Auth, type AuthContext, createAuth, guardOf, guestRefusal, userIdOf } from './auth.js'
import { ForbiddenError, MisconfigurationError } from './errors.js'
import { DEFAULT_REALM, errorAnswer, HttpAnswer, isRefusal } from './http-answer.js'
import { isPromiseLike, type MaybePromise } from './maybe-promise.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { type RateLimitOptions, RateLimits } from './rate-limits.js'
import type { RegisteredPermission, RegisteredUser } from './register.js'
import { statefulDomains } from './stateful-domains.js'
import {
  isAuditing,
  NEEDS_LOOKUP,
  rateLimitedBy,
  rateLimitsOf,
  reportTo,
  type TokenService,
  useToken,
  verifyToken,
  verifyWithoutLookup,
} from './token-service.js'
import { isTransientToken, TransientToken } from './transient-token.js'

/**
 * How an adapter reads its framework's request, given once when the guard is built (so a request costs no object
 * of its own), and how it wants `auth.authorize`'s refusals thrown.
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
   * The client's address as the framework knows it (Express's `req.ip`, Koa's `ctx.ip`, which follow their proxy
   * settings), for the limit on refused authentications; undefined when it cannot tell (none is counted then).
   */
  address?(request: R): string | undefined
  /**
   * What `auth.authorize` rejects with in place of the core's refusal: Hono gives an `HTTPException` built from
   * {@link errorAnswer}, which it answers by itself. Default: the core's error.
   */
  refusal?: AuthContext['refusal']
  /**
   * The auth an `auth` middleware has set on this request already (`c.var.auth`, `ctx.state.auth`, `req.auth`), if
   * any: a guard mounted twice on one request then answers with its own earlier auth, as Sanctum's guard keeps
   * its user for the request, rather than verify, spend, count and record the token again.
   */
  currentAuth?(request: R): object | null | undefined
}

/**
 * How the app signs users in, and whether a route group needs it: the options every adapter's
 * `auth(tokens, options)` takes. `R` is the framework's request.
 *
 * @example
 * ```ts
 * const options: AuthOptions<User, Permission, Request> = {
 *   session: (req) => req.user ?? null,
 *   user: (token) => users.find(token.owner.id),
 * }
 * ```
 */
export interface AuthOptions<U = RegisteredUser, P extends string = RegisteredPermission, R = unknown> {
  /**
   * The user signed in through the app's own session (a cookie), or null. Such a request gets a
   * {@link TransientToken}: it can do everything. Any falsy value is no user, as in Sanctum: `false` too, which
   * Hono's `getSignedCookie` gives for a forged cookie and `a && b` passes on.
   */
  readonly session?: (request: R) => MaybePromise<U | false | null | undefined>
  /**
   * The user who owns a verified token, or null when there is none any more (the token is then refused; any falsy
   * value is none, as for `session`). Where more than one kind of owner holds tokens (users and teams), read
   * `token.owner.type` too: team 5's token is not user 5's.
   */
  readonly user: (token: PersonalAccessToken<P>, request: R) => MaybePromise<U | false | null | undefined>
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
  /** Answer 401 when the request is not signed in. Default true; false lets guests through with `user: null`. */
  readonly required?: boolean
  /** The realm of every `WWW-Authenticate` challenge about this request, later ability checks' included. Default `api`. */
  readonly realm?: string
  /**
   * This route group's own rate limits, in place of the service's `rateLimit` (their counters are the group's
   * own: on a shared `backend`, under the `name` it then needs); `false` for none here. Default: the service's.
   */
  readonly rateLimit?: RateLimitOptions<P> | false
  /**
   * The client's address, for the limit on refused authentications and for the audit trail (the token routes'
   * events included), when the framework's own is not the one to trust (say, behind a proxy the framework is not
   * told about). Default: the adapter's.
   */
  readonly clientAddress?: (request: R) => string | undefined
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * Sanctum's guard, without a framework: the app's session first (a {@link TransientToken}), else the bearer token
 * (a {@link PersonalAccessToken} and its owner), else a guest. It decides every answer about who the request is:
 * adapters call {@link RequestGuard.resolve} once per request and either send the {@link HttpAnswer} it gives or
 * hand the {@link Auth} on.
 *
 * @example
 * ```ts
 * const guard = new RequestGuard(tokens, { session: (req) => req.session.user, user: (token) => users.find(token.owner.id) }, {
 *   method: (req) => req.method,
 *   header: (req, name) => req.headers[name],
 * })
 * const resolved = await guard.resolve(req)
 * if (resolved instanceof HttpAnswer) send(resolved)
 * else req.auth = resolved
 * ```
 */
export class RequestGuard<U, P extends string, R> {
  readonly #tokens: TokenService<P>
  readonly #options: AuthOptions<U, P, R>
  readonly #adapter: GuardAdapter<R>
  readonly #firstParty: ReturnType<typeof statefulDomains>
  readonly #tokenHeader: string | null
  readonly #context: AuthContext
  // Guests hold nothing of their request, so one answer serves every guest, and one every refused token.
  readonly #guest: Auth<U | null, P> | HttpAnswer
  readonly #refused: Auth<U | null, P> | HttpAnswer
  readonly #limits: RateLimits | null
  readonly #address: ((request: R) => string | undefined) | null
  readonly #auditing: boolean
  // Whether the app was told that a session user without an `id` escapes the `session` limit: once is enough.
  #toldUnlimited = false

  constructor(tokens: TokenService<P>, options: AuthOptions<U, P, R>, adapter: GuardAdapter<R>) {
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
    if (options.required !== undefined && typeof options.required !== 'boolean') {
      throw new MisconfigurationError('`required` is true (answer 401 to guests, the default) or false.')
    }
    const realm = options.realm
    if (realm !== undefined && (typeof realm !== 'string' || realm === '' || /[\p{Cc}"\\]/u.test(realm))) {
      throw new MisconfigurationError('`realm` is a name without quotes, backslashes or control characters.')
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
    if (options.clientAddress !== undefined && typeof options.clientAddress !== 'function') {
      throw new MisconfigurationError('`clientAddress` is a function: (request) => the client’s address.')
    }
    const required = options.required ?? true
    const limit = options.rateLimit
    if (limit && limit.backend !== undefined && limit.name === undefined) {
      throw new MisconfigurationError(
        "`auth(tokens, { rateLimit })` with a shared `backend` needs a `name` in that `rateLimit`: limits on one backend count on the same keys (the service's, another route group's) unless their names differ.",
      )
    }
    this.#limits =
      limit === false
        ? null
        : limit === undefined
          ? rateLimitsOf(tokens)
          : new RateLimits(
              limit,
              (error) => reportTo(tokens, error),
              (policy) => rateLimitedBy(tokens, policy),
              (name) => tokens.permissions === null || tokens.permissions.permissions.includes(name as P),
            )
    const limits = this.#limits
    // Every refusal that comes of this guard names its realm, a policy's through `authorize` included, so an app's
    // `errorHandler({ realm })` (which answers that one in Express) gives it no other realm than Hono's and Koa's.
    this.#context = {
      guard: this,
      realm: realm ?? DEFAULT_REALM,
      ...(adapter.refusal !== undefined && { refusal: adapter.refusal }),
      ...(limits?.hasAbilityLimits && {
        spendAbilities: (abilities: readonly string[], tokenId: string) =>
          limits.spendAbilities(abilities, tokenId),
      }),
    }
    this.#guest = this.#anonymous(required, false)
    this.#refused = this.#anonymous(required, true)
    this.#address = options.clientAddress ?? adapter.address?.bind(adapter) ?? null
    this.#auditing = isAuditing(tokens)
  }

  /**
   * The auth of a request, or the answer that refuses it: at once when no lookup was needed (a guest, a session,
   * a cached token), else a promise. Refusals are answers, never rejections: 401 for a guest where auth is
   * required, 403 for a session request that changes state from a foreign origin, 503 when the store cannot
   * answer. The promise rejects only when the app's own `session` or `user` throws. A request this guard has
   * resolved already (the same `auth` mounted twice) gets that same auth, at once.
   *
   * @example
   * ```ts
   * const resolved = guard.resolve(c)
   * const auth = resolved instanceof Promise ? await resolved : resolved
   * ```
   */
  resolve(request: R): Auth<U | null, P> | HttpAnswer | Promise<Auth<U | null, P> | HttpAnswer> {
    const current = this.#adapter.currentAuth?.(request)
    if (current !== undefined && current !== null && guardOf(current) === this)
      return current as Auth<U | null, P>
    // Nothing is awaited that is not a promise: every tick counts on the path each request takes (bench/).
    const session = this.#options.session ? this.#options.session(request) : null
    if (!isPromiseLike(session)) return this.#afterSession(request, session)
    return Promise.resolve(session).then((user) => this.#afterSession(request, user))
  }

  #afterSession(
    request: R,
    sessionUser: U | false | null | undefined,
  ): Auth<U | null, P> | HttpAnswer | Promise<Auth<U | null, P> | HttpAnswer> {
    // Falsy is no user (Sanctum's `if ($user = …)`): a forged cookie's `false` must not sign a request in.
    if (sessionUser) {
      if (STATE_CHANGING.has(this.#adapter.method(request).toUpperCase()) && !this.#fromFirstParty(request)) {
        return errorAnswer(
          new ForbiddenError(
            'This request changes state and did not come from one of the app’s own origins.',
          ),
        )
      }
      const auth = createAuth<U | null, P>(
        sessionUser,
        new TransientToken(),
        this.#withClient(this.#auditContext(request)),
      )
      if (!this.#limits) return auth
      const key = userKey(sessionUser)
      if (key === null) {
        this.#unlimited()
        return auth
      }
      return settled(this.#limits.spend('session', key), (refusal) => (refusal ? errorAnswer(refusal) : auth))
    }
    const plainText = this.#plainText(request)
    if (plainText === null) return this.#guest
    const limits = this.#limits
    // Read once for the whole request (the audit trail's address and client), only when the service keeps one.
    const client = this.#auditContext(request)
    if (limits === null) return this.#bearer(request, plainText, client)
    // The address the audit trail read already, else read now: `clientAddress` runs once per request.
    const address = client === undefined ? this.#address?.(request) : (client.ip ?? undefined)
    // A cached token is accepted at once. Anything else waits for the client's failures first: a client that keeps
    // presenting refused tokens is stopped before the next one reaches the store, and is answered 429 whether or
    // not a token's id is cached, so it cannot tell which are.
    let early: ReturnType<typeof verifyWithoutLookup<P>>
    try {
      early = plainText === '' ? null : verifyWithoutLookup(this.#tokens, plainText, client)
    } catch (error) {
      return this.#storageAnswer(error)
    }
    if (early !== NEEDS_LOOKUP && early !== null) {
      return this.#limited(this.#found(request, early, client), address, limits)
    }
    return settled(address === undefined ? null : limits.blocked(address), (refusal) => {
      if (refusal) return errorAnswer(refusal)
      const resolved =
        early === null ? this.#found(request, null, client) : this.#bearer(request, plainText, client)
      return this.#limited(resolved, address, limits)
    })
  }

  // A refused token counts against the client's address; an accepted one spends a request of its allowance.
  #limited(
    resolved: Auth<U | null, P> | HttpAnswer | Promise<Auth<U | null, P> | HttpAnswer>,
    address: string | undefined,
    limits: RateLimits,
  ): Auth<U | null, P> | HttpAnswer | Promise<Auth<U | null, P> | HttpAnswer> {
    return settled(resolved, (outcome) => {
      if (outcome === this.#refused) {
        return address === undefined ? outcome : settled(limits.failed(address), () => outcome)
      }
      const token = outcome instanceof HttpAnswer ? null : outcome.token
      if (token === null || isTransientToken(token)) return outcome
      return settled(limits.spend('token', token.id), (spent) => (spent ? errorAnswer(spent) : outcome))
    })
  }

  // The bearer path: the token verified, then its owner found.
  #bearer(
    request: R,
    plainText: string,
    client: AuditContext | undefined,
  ): Auth<U | null, P> | HttpAnswer | Promise<Auth<U | null, P> | HttpAnswer> {
    if (plainText === '') return this.#refused
    let token: ReturnType<typeof verifyToken<P>>
    try {
      token = verifyToken(this.#tokens, plainText, client)
    } catch (error) {
      return this.#storageAnswer(error)
    }
    return this.#found(request, token, client)
  }

  #found(
    request: R,
    token: PersonalAccessToken<P> | null | Promise<PersonalAccessToken<P> | null>,
    client: AuditContext | undefined,
  ): Auth<U | null, P> | HttpAnswer | Promise<Auth<U | null, P> | HttpAnswer> {
    return token instanceof Promise
      ? token.then(
          (found) => this.#owner(request, found, client),
          (error: unknown) => this.#storageAnswer(error),
        )
      : this.#owner(request, token, client)
  }

  #owner(
    request: R,
    token: PersonalAccessToken<P> | null,
    client: AuditContext | undefined,
  ): Auth<U | null, P> | HttpAnswer | Promise<Auth<U | null, P> | HttpAnswer> {
    if (token === null) return this.#refused
    const found = this.#options.user(token, request)
    return isPromiseLike(found)
      ? Promise.resolve(found).then((owner) => this.#signedIn(owner, token, client))
      : this.#signedIn(found, token, client)
  }

  // Only an owner the app knows makes this a use: a refused one leaves no touch and no `authenticated` call, and
  // telemetry counts the token refused.
  #signedIn(
    owner: U | false | null | undefined,
    token: PersonalAccessToken<P>,
    client: AuditContext | undefined,
  ): Auth<U | null, P> | HttpAnswer {
    // Falsy is no owner, as for the session: `owner.type === 'user' && users.find(…)` gives a team's token `false`.
    if (!owner) {
      useToken(this.#tokens, token, false)
      return this.#refused
    }
    return createAuth<U | null, P>(owner, useToken(this.#tokens, token, true), this.#withClient(client))
  }

  // A user without an `id` cannot be counted: served, since refusing every request of the app's users would be
  // worse than no limit, but said, since a limit the app set silently not applying is how abuse goes unnoticed.
  #unlimited(): void {
    if (this.#toldUnlimited) return
    this.#toldUnlimited = true
    reportTo(
      this.#tokens,
      new MisconfigurationError(
        'A signed-in user has no `id`, so the `session` rate limit, which counts by user id, does not apply to their requests: give session users an `id`.',
      ),
    )
  }

  // The guard's context, and, when the service keeps a trail, the request's client as this guard read it, so the
  // token routes record the address `clientAddress` gives rather than the framework's.
  #withClient(client: AuditContext | undefined): AuthContext {
    return client === undefined ? this.#context : { ...this.#context, client }
  }

  #anonymous(required: boolean, tokenRejected: boolean): Auth<U | null, P> | HttpAnswer {
    const guest = Object.freeze(createAuth<U | null, P>(null, null, { ...this.#context, tokenRejected }))
    return required ? errorAnswer(guestRefusal(guest)) : guest
  }

  // A store that cannot answer is a 503 (StorageUnavailableError); anything else a driver throws is a bug to surface.
  #storageAnswer(error: unknown): HttpAnswer {
    if (isRefusal(error)) return errorAnswer(error)
    throw error
  }

  // The request's address and client for the audit trail; nothing is read when the service keeps none.
  #auditContext(request: R): AuditContext | undefined {
    if (!this.#auditing) return undefined
    return {
      ip: this.#address?.(request) ?? null,
      userAgent: this.#adapter.header(request, 'user-agent') ?? null,
    }
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
// `then` for a value that may be a promise: at once when it is not, so the memory limiter's answers (and a cached
// token's) keep a request free of promises; through a native promise when it is, which the adapters test for.
function settled<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): R | Promise<R> {
  return isPromiseLike(value) ? Promise.resolve(value).then(next) : (next(value) as R | Promise<R>)
}

// A session user is limited by their `id`, as the token routes know them; a user without one is not limited.
function userKey(user: unknown): string | null {
  const id = userIdOf(user)
  return id === null ? null : String(id)
}
