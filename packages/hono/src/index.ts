import {
  ApiTokenManager,
  type ApiTokenRoutesOptions,
  type AuthMiddlewareOptions,
  assertAbilities,
  assertAnyAbility,
  BadRequestError,
  errorResponse,
  isTokenError,
  type RequestAuth,
  RequestGuard,
  type TokenService,
  UnauthenticatedError,
} from '@jetstream/tokens'
import { type Context, Hono, type MiddlewareHandler, type Next } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

// What a Hono middleware's promise settles to: a response, or nothing once `next()` has run.
type Answer = Awaited<ReturnType<MiddlewareHandler>>

/**
 * The Hono environment the middleware provides: `c.var.auth`. Use it as your app's (or merge it into your) `Env`.
 *
 * @example
 * ```ts
 * const app = new Hono<AuthEnv<User, Permission>>()
 * app.get('/me', (c) => c.json(c.var.auth.user))
 * ```
 */
export interface AuthEnv<U = unknown, P extends string = string> {
  Variables: { auth: RequestAuth<U, P> }
}

/**
 * Options of {@link apiTokenRoutes}, shared by every adapter.
 *
 * @example
 * ```ts
 * apiTokenRoutes(tokens, { prefix: '/settings/api-tokens' } satisfies ApiTokenRoutesOptions<User>)
 * ```
 */
export type { ApiTokenRoutesOptions } from '@jetstream/tokens'

/**
 * Options of {@link auth}: how the app signs users in, and whether a route group needs it.
 *
 * @example
 * ```ts
 * const options: AuthOptions<User, Permission> = { user: (token) => findUser(token.owner.id), required: false }
 * ```
 */
export type AuthOptions<U, P extends string> = AuthMiddlewareOptions<U, P, Context>

/**
 * The auth middleware (Sanctum's guard): the app's session first, then `Authorization: Bearer …`. Sets
 * `c.var.auth`; answers 401 when `required` (the default) and nobody is signed in.
 *
 * @example
 * ```ts
 * app.use('/api/*', auth(tokens, {
 *   session: (c) => getSignedInUser(c),
 *   user: (token) => users.find(token.owner.id),
 * }))
 * ```
 */
export function auth<U, P extends string>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): MiddlewareHandler<AuthEnv<U, P>> {
  const realm = options.realm ?? 'api'
  const guard = new RequestGuard<U, P, Context>(tokens, options, {
    method: (c) => c.req.method,
    header,
    // Hono renders an HTTPException by itself, so a refusal in a handler needs no error handler of the app's.
    refusal: (error) => httpException(error, realm),
  })
  const required = options.required ?? true
  const refuse = (c: Context, error: unknown) => {
    if (!isTokenError(error)) throw error
    return respond(c, error, realm)
  }
  const enter = (c: Context<AuthEnv<U, P>>, resolved: RequestAuth<U, P>, next: Next) => {
    if (required && resolved.user === null)
      return respond(c, new UnauthenticatedError({ tokenRejected: resolved.tokenRejected }), realm)
    c.set('auth', resolved)
    return next()
  }
  // Not an async function: a request whose auth needs no lookup (a session, a cached token) runs through without
  // a promise of its own.
  return function auth(c, next) {
    let resolved: RequestAuth<U, P> | Promise<RequestAuth<U, P>>
    try {
      resolved = guard.resolve(c)
    } catch (error) {
      return Promise.resolve(refuse(c, error))
    }
    return resolved instanceof Promise
      ? resolved.then<Answer, Answer>(
          (found) => enter(c, found, next),
          (error: unknown) => refuse(c, error),
        )
      : Promise.resolve(enter(c, resolved, next))
  }
}

/**
 * Needs every listed ability (Sanctum's `abilities` middleware): 401 without auth, 403 naming the missing ones.
 *
 * @example
 * ```ts
 * app.post('/posts', abilities('create', 'read'), createPost)
 * ```
 */
export function abilities<P extends string>(...required: P[]): MiddlewareHandler {
  return checking('abilities', (auth: RequestAuth<unknown, P>) => assertAbilities(auth, required))
}

/**
 * Needs at least one listed ability (Sanctum's `ability` middleware): 401 without auth, 403 otherwise.
 *
 * @example
 * ```ts
 * app.delete('/posts/:id', ability('delete', 'admin'), deletePost)
 * ```
 */
export function ability<P extends string>(...anyOf: P[]): MiddlewareHandler {
  return checking('ability', (auth: RequestAuth<unknown, P>) => assertAnyAbility(auth, anyOf))
}

// A middleware that runs a core check on the request's auth and answers its refusal; named for stack traces.
function checking<P extends string>(
  name: string,
  check: (auth: RequestAuth<unknown, P>) => void,
): MiddlewareHandler {
  const middleware: MiddlewareHandler = (c, next) => {
    try {
      check(currentAuth<unknown, P>(c))
    } catch (error) {
      if (!isTokenError(error)) throw error
      return Promise.resolve(respond(c, error))
    }
    return next()
  }
  return Object.defineProperty(middleware, 'name', { value: name })
}

/**
 * Jetstream's API-token routes for the signed-in user's own tokens: `GET` (list), `POST` (create; the plain text
 * is in this answer only), `PUT /:id` (permissions), `DELETE /:id`. Mount after {@link auth}.
 *
 * @example
 * ```ts
 * app.use('*', auth(tokens, { session, user }))
 * app.route('/', apiTokenRoutes(tokens))
 * ```
 */
export function apiTokenRoutes<U, P extends string>(
  tokens: TokenService<P>,
  options: ApiTokenRoutesOptions<U> = {},
): Hono<AuthEnv<U, P>> {
  const manager = new ApiTokenManager<U, P>(tokens, options)
  const routes = new Hono<AuthEnv<U, P>>().basePath(options.prefix ?? '/user/api-tokens')
  routes.onError((error, c) => respond(c, error))
  routes.get('/', async (c) => send(c, await manager.list(currentAuth(c))))
  routes.post('/', async (c) => send(c, await manager.create(currentAuth(c), await jsonBody(c))))
  routes.put('/:id', async (c) =>
    send(c, await manager.update(currentAuth(c), c.req.param('id'), await jsonBody(c))),
  )
  routes.delete('/:id', async (c) => send(c, await manager.delete(currentAuth(c), c.req.param('id'))))
  return routes
}

/**
 * An `app.onError` handler that answers any error this library raises as {@link auth} does (`{ message, code }`,
 * the right status and `WWW-Authenticate`), and anything else as a bare 500 without a stack.
 *
 * @example
 * ```ts
 * app.onError(errorHandler())
 * ```
 */
export function errorHandler(options: { realm?: string } = {}): (error: Error, c: Context) => Response {
  return (error, c) =>
    error instanceof HTTPException ? error.getResponse() : respond(c, error, options.realm)
}

// The ability middlewares add nothing to the app's Env (an intersection would widen `tokenCan` to any string), so
// they read the auth through a plain Context.
/**
 * A request header. On Node (`@hono/node-server`), read from the `IncomingMessage` it passes as `c.env.incoming`:
 * touching `c.req.header()` there builds a whole Fetch `Request`, which cost more than verifying the token. Other
 * runtimes use `c.req.header()`.
 */
function header(c: Context, name: string): string | undefined {
  const incoming = (
    c.env as { incoming?: { headers?: Record<string, string | string[] | undefined> } } | undefined
  )?.incoming
  if (incoming?.headers) {
    const value = incoming.headers[name]
    return Array.isArray(value) ? value.join(', ') : value
  }
  return c.req.header(name)
}

function currentAuth<U, P extends string>(c: Context): RequestAuth<U, P> {
  const found = (c as Context<AuthEnv<U, P>>).get('auth')
  if (!found)
    throw new Error(
      'No auth on this request: use auth(tokens, options) before abilities, ability and apiTokenRoutes.',
    )
  return found
}

async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json()
  } catch (error) {
    throw new BadRequestError('The request body is not valid JSON.', { cause: error })
  }
}

function send(c: Context, result: { status: number; body?: unknown }): Response {
  return result.body === undefined
    ? c.body(null, result.status as 204)
    : c.json(result.body, result.status as ContentfulStatusCode)
}

function respond(c: Context, error: unknown, realm?: string): Response {
  const { status, headers, body } = errorResponse(error, realm === undefined ? {} : { realm })
  return c.json(body, status as ContentfulStatusCode, headers)
}

function httpException(error: unknown, realm: string): unknown {
  if (!isTokenError(error)) return error
  const { status, headers, body } = errorResponse(error, { realm })
  const res = new Response(JSON.stringify(body), {
    status,
    headers: { ...headers, 'content-type': 'application/json' },
  })
  return new HTTPException(status as ContentfulStatusCode, { res, cause: error })
}
