import type {
  ApiTokenRoutesOptions,
  Auth,
  AuthOptions as CoreAuthOptions,
  ErrorHandlerOptions,
  RegisteredPermission,
  RegisteredUser,
  TokenService,
} from '@jetstream/tokens'
import {
  type AbilityMode,
  ApiTokenRoutes,
  abilityCheck,
  answerError,
  errorAnswer,
  HttpAnswer,
  nodeHeader,
  type RequestBody,
  RequestGuard,
  requireAuth,
  targetPath,
} from '@jetstream/tokens/adapter'
import { type Context, Hono, type MiddlewareHandler, type Next } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode, StatusCode } from 'hono/utils/http-status'

// What a Hono middleware's promise settles to: a response, or nothing once `next()` has run.
type Answer = Awaited<ReturnType<MiddlewareHandler>>

/**
 * The Hono environment the middleware provides: `c.var.auth`. Use it as your app's (or merge it into your) `Env`.
 * Its types default to what the app registered (see `Register` in `@jetstream/tokens`); for routes where auth is
 * optional, use `AuthEnv<User | null>`.
 *
 * @example
 * ```ts
 * const app = new Hono<AuthEnv>()
 * app.get('/me', (c) => c.json(c.var.auth.user))
 * ```
 */
export interface AuthEnv<U = RegisteredUser, P extends string = RegisteredPermission> {
  Variables: { auth: Auth<U, P> }
}

/**
 * Options of {@link auth}: how the app signs users in, whether a route group needs it, and the realm.
 *
 * @example
 * ```ts
 * const options: AuthOptions = { user: (token) => findUser(token.owner.id), required: false }
 * ```
 */
export type AuthOptions<U = RegisteredUser, P extends string = RegisteredPermission> = CoreAuthOptions<
  U,
  P,
  Context
>

/**
 * Options of {@link apiTokenRoutes} and of {@link errorHandler}, shared by every adapter.
 *
 * @example
 * ```ts
 * apiTokenRoutes(tokens, { prefix: '/settings/api-tokens' } satisfies ApiTokenRoutesOptions)
 * errorHandler({ report: (error) => logger.error(error) } satisfies ErrorHandlerOptions)
 * ```
 */
export type { ApiTokenRoutesOptions, ErrorHandlerOptions } from '@jetstream/tokens'

/**
 * The auth middleware (Sanctum's guard): the app's session first, then `Authorization: Bearer …`. Sets
 * `c.var.auth`; answers 401 when `required` (the default) and nobody is signed in. Every answer it gives is the
 * core's, the same in every framework.
 *
 * @example
 * ```ts
 * app.use('/api/*', auth(tokens, {
 *   session: (c) => getSignedInUser(c),
 *   user: (token) => users.find(token.owner.id),
 * }))
 * ```
 */
export function auth<U = RegisteredUser, P extends string = RegisteredPermission>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P> & { readonly required?: true },
): MiddlewareHandler<AuthEnv<U, P>>
export function auth<U = RegisteredUser, P extends string = RegisteredPermission>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): MiddlewareHandler<AuthEnv<U | null, P>>
export function auth<U, P extends string>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): MiddlewareHandler<AuthEnv<U | null, P>> {
  const guard = new RequestGuard<U, P, Context>(tokens, options, {
    method: (c) => c.req.method,
    header,
    address,
    currentAuth: (c) => c.get('auth'),
    // Hono answers an HTTPException by itself, so a policy's refusal in a handler needs no error handler of the app's.
    refusal: (error) => httpException(errorAnswer(error), error),
  })
  // Not an async function: a request whose auth needs no lookup (a session, a cached token) runs through without
  // a promise of its own.
  return function auth(c, next) {
    const resolved = guard.resolve(c)
    if (!(resolved instanceof Promise)) {
      if (resolved instanceof HttpAnswer) return Promise.resolve(send(c, resolved))
      c.set('auth', resolved)
      return next()
    }
    return resolved.then<Answer>((found) => {
      if (found instanceof HttpAnswer) return send(c, found)
      c.set('auth', found)
      return next()
    })
  }
}

/**
 * Needs every listed ability (Sanctum's `abilities` middleware): 401 without auth, 403 naming the missing ones.
 * The names are the app's registered permissions, so a typo does not compile.
 *
 * @example
 * ```ts
 * app.post('/posts', abilities('create', 'read'), createPost)
 * ```
 */
export function abilities<P extends string = RegisteredPermission>(
  ...required: NoInfer<P>[]
): MiddlewareHandler {
  return checking('abilities', 'all', required)
}

/**
 * Needs at least one listed ability (Sanctum's `ability` middleware): 401 without auth, 403 otherwise.
 *
 * @example
 * ```ts
 * app.delete('/posts/:id', ability('delete', 'admin'), deletePost)
 * ```
 */
export function ability<P extends string = RegisteredPermission>(...anyOf: NoInfer<P>[]): MiddlewareHandler {
  return checking('ability', 'any', anyOf)
}

// A middleware that runs the core's ability check and sends its refusal; named for stack traces.
function checking(name: string, mode: AbilityMode, listed: readonly string[]): MiddlewareHandler {
  const check = abilityCheck(mode, listed)
  const middleware: MiddlewareHandler = (c, next) => {
    const refusal = check(currentAuth(c))
    // A promise only where ability limits live outside this process.
    if (refusal instanceof Promise)
      return refusal.then<Answer>((answer) => (answer ? send(c, answer) : next()))
    return refusal ? Promise.resolve(send(c, refusal)) : next()
  }
  return Object.defineProperty(middleware, 'name', { value: name })
}

/**
 * Jetstream's API-token routes for the signed-in user's own tokens: `GET` (list), `POST` (create; the plain text
 * is in this answer only), `PUT /:id` (permissions), `DELETE /:id`. Only the user's session may use them unless
 * `bearerAbility` is set. Mount after {@link auth}.
 *
 * @example
 * ```ts
 * app.use('*', auth(tokens, { session, user }))
 * app.route('/', apiTokenRoutes(tokens))
 * ```
 */
export function apiTokenRoutes<U = RegisteredUser, P extends string = RegisteredPermission>(
  tokens: TokenService<P>,
  options: ApiTokenRoutesOptions<U, P> = {},
): Hono<AuthEnv<U | null, P>> {
  const routes = new ApiTokenRoutes<U, P>(tokens, options)
  const app = new Hono<AuthEnv<U | null, P>>()
  const handler = async (c: Context<AuthEnv<U | null, P>>, next: Next) => {
    const path = below(c)
    // Not the routes' path as sent: what an unmatched path gets, as in Express and Koa.
    if (path === null) return next()
    return send(
      c,
      await routes.handle({
        method: c.req.method,
        path,
        header: (name) => header(c, name),
        body: await body(c),
        auth: c.get('auth'),
        ...withAddress(address(c)),
      }),
    )
  }
  app.all(routes.prefix, handler)
  app.all(`${routes.prefix}/*`, handler)
  return app
}

/**
 * An `app.onError` handler that answers as the core builds it, the same in every adapter: any error this library
 * raises as {@link auth} does (`{ message, code }`, the right status and `WWW-Authenticate`), a client error
 * marked `expose` with its own status and `headers`, an `HTTPException` as Hono does, and anything else as a bare
 * 500 without a stack, reported to `report` (default `console.error`, as Hono's own handler does).
 *
 * @example
 * ```ts
 * app.onError(errorHandler())
 * ```
 */
export function errorHandler(options: ErrorHandlerOptions = {}): (error: Error, c: Context) => Response {
  return (error, c) =>
    error instanceof HTTPException ? error.getResponse() : send(c, answerError(error, options))
}

/**
 * A request header. On Node (`@hono/node-server`), read from the `IncomingMessage` it passes as `c.env.incoming`:
 * touching `c.req.header()` there builds a whole Fetch `Request`, which cost more than verifying the token. Other
 * runtimes use `c.req.header()`.
 */
function header(c: Context, name: string): string | undefined {
  const incoming = nodeRequest(c)
  return incoming ? nodeHeader(incoming.headers, name) : c.req.header(name)
}

/**
 * The client's address: on Node, the socket's peer (as `@hono/node-server`'s `getConnInfo` reads it); elsewhere
 * Hono has no one answer for every runtime, so none (give `clientAddress` to `auth`, e.g. from `getConnInfo`).
 */
function address(c: Context): string | undefined {
  return nodeRequest(c)?.socket?.remoteAddress
}

// `address` only where known: the request's optional field is absent rather than undefined.
function withAddress(ip: string | undefined): { address?: string } {
  return ip === undefined ? {} : { address: ip }
}

interface NodeRequest {
  readonly headers: Record<string, string | string[] | undefined>
  /** The path and query as the client sent them. */
  readonly url?: string
  readonly readableFlowing?: boolean | null
  readonly socket?: { readonly remoteAddress?: string }
}

function nodeRequest(c: Context): NodeRequest | undefined {
  const incoming = (c.env as { incoming?: NodeRequest } | undefined)?.incoming
  return incoming?.headers ? incoming : undefined
}

// The body unread: on Node, its own stream (asking the Fetch request anything would start it reading that stream
// too), elsewhere the Fetch body; what a validator of the app's already read comes from Hono's cache. The stream
// only while no one has begun reading it: once a middleware did (Hono's `bodyLimit` reads a chunked body into a
// Fetch request of its own, and asks for the Fetch body of others), the body is the Fetch request's.
async function body(c: Context): Promise<RequestBody> {
  if (Object.keys(c.req.bodyCache).length > 0) return new Uint8Array(await c.req.arrayBuffer())
  const incoming = nodeRequest(c)
  return incoming?.readableFlowing === null ? (incoming as unknown as RequestBody) : c.req.raw.body
}

// The path below the routes' prefix, still percent-encoded: what follows the segments the matched route names
// (wherever the app mounted the routes); null when the path as sent is not the route's. `c.req.routePath` rather
// than `hono/route`'s helper, which hono 4.6, the lowest version the peer range admits, does not have.
function below(c: Context): string | null {
  // On Node, the path as the client sent it, as Express and Koa read it: the Fetch URL has `.` and `..` segments
  // resolved already, so `/user/api-tokens/x/../7` would reach token 7 here alone. Other runtimes give only that URL.
  const path = targetPath(nodeRequest(c)?.url ?? c.req.url).split('/')
  const route = c.req.routePath.replace(/\/\*$/, '').split('/')
  // Hono's router matches the decoded path; Express and Koa match the route's own words as sent, so there
  // `/user/api%2Dtokens/7` is no token route. A parameter's or a wildcard's segment matches whatever it holds.
  if (route.some((segment, i) => segment !== path[i] && !/^[:*]/.test(segment))) return null
  return path.length > route.length ? `/${path.slice(route.length).join('/')}` : ''
}

function currentAuth(c: Context): Auth<unknown, string> {
  return requireAuth((c as Context<AuthEnv<unknown, string>>).get('auth'))
}

function send(c: Context, answer: HttpAnswer): Response {
  return answer.body === ''
    ? c.body(null, answer.status as StatusCode, answer.headers)
    : c.body(answer.body, answer.status as ContentfulStatusCode, answer.headers)
}

function httpException(answer: HttpAnswer, cause: unknown): HTTPException {
  const res = new Response(answer.body, { status: answer.status, headers: answer.headers })
  return new HTTPException(answer.status as ContentfulStatusCode, { res, cause })
}
