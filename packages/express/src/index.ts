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
import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  Router,
} from 'express'

declare global {
  namespace Express {
    interface Request {
      /** Set by `auth(tokens, options)` from `@jetstream/express`. Type it with `AuthRequest<User, Permission>`. */
      auth?: RequestAuth
    }
  }
}

/**
 * A request that went through {@link auth}: `req.auth` typed with your user and permissions.
 *
 * @example
 * ```ts
 * app.get('/me', (req: AuthRequest<User, Permission>, res) => res.json(req.auth.user))
 * ```
 */
export type AuthRequest<U = unknown, P extends string = string> = Omit<Request, 'auth'> & {
  auth: RequestAuth<U, P>
}

/**
 * `req.auth` with your user and permission types (the global `Request` type can only say `RequestAuth`). Throws
 * when {@link auth} did not run before, which is a wiring mistake.
 *
 * @example
 * ```ts
 * app.put('/posts/:id', (req, res) => {
 *   const auth = authOf<User, Permission>(req)
 *   auth.tokenCan('update') // 'updte' would not compile
 * })
 * ```
 */
export function authOf<U = unknown, P extends string = string>(req: Request): RequestAuth<U, P> {
  return currentAuth<P, U>(req)
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
export type AuthOptions<U, P extends string> = AuthMiddlewareOptions<U, P, Request>

/**
 * The auth middleware (Sanctum's guard): the app's session first, then `Authorization: Bearer …`. Sets
 * `req.auth`; answers 401 when `required` (the default) and nobody is signed in.
 *
 * @example
 * ```ts
 * app.use(auth(tokens, { session: (req) => req.session.user ?? null, user: (token) => users.find(token.owner.id) }))
 * ```
 */
export function auth<U, P extends string>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): RequestHandler {
  const guard = new RequestGuard<U, P, Request>(tokens, options, {
    method: (req) => req.method,
    header: (req, name) => req.get(name),
  })
  const required = options.required ?? true
  const realm = options.realm ?? 'api'
  const enter = (req: Request, res: Response, next: NextFunction, resolved: RequestAuth<U, P>) => {
    if (required && resolved.user === null)
      return refuse(res, next, new UnauthenticatedError({ tokenRejected: resolved.tokenRejected }))
    req.auth = resolved as unknown as RequestAuth
    next()
  }
  const refuse = (res: Response, next: NextFunction, error: unknown) => {
    if (!isTokenError(error)) return next(error)
    respond(res, error, realm)
  }
  // Not an async function: a request whose auth needs no lookup (a session, a cached token) pays for no promise.
  return function auth(req, res, next) {
    let resolved: RequestAuth<U, P> | Promise<RequestAuth<U, P>>
    try {
      resolved = guard.resolve(req)
    } catch (error) {
      return refuse(res, next, error)
    }
    if (!(resolved instanceof Promise)) return enter(req, res, next, resolved)
    // Returned, so that Express 5 passes anything thrown further on to the app's error handler.
    return resolved.then(
      (found) => enter(req, res, next, found),
      (error: unknown) => refuse(res, next, error),
    )
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
export function abilities<P extends string>(...required: P[]): RequestHandler {
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
export function ability<P extends string>(...anyOf: P[]): RequestHandler {
  return checking('ability', (auth: RequestAuth<unknown, P>) => assertAnyAbility(auth, anyOf))
}

// A middleware that runs a core check on the request's auth and answers its refusal; named for stack traces.
function checking<P extends string>(
  name: string,
  check: (auth: RequestAuth<unknown, P>) => void,
): RequestHandler {
  const middleware: RequestHandler = (req, res, next) => {
    try {
      check(currentAuth<P>(req))
    } catch (error) {
      if (!isTokenError(error)) return next(error)
      return respond(res, error)
    }
    next()
  }
  return Object.defineProperty(middleware, 'name', { value: name })
}

/**
 * Jetstream's API-token routes for the signed-in user's own tokens, as an Express router: `GET` (list), `POST`
 * (create; the plain text is in this answer only), `PUT /:id` (permissions), `DELETE /:id`. Mount after
 * {@link auth}.
 *
 * @example
 * ```ts
 * app.use(auth(tokens, { session, user }))
 * app.use(apiTokenRoutes(tokens))
 * ```
 */
export function apiTokenRoutes<U, P extends string>(
  tokens: TokenService<P>,
  options: ApiTokenRoutesOptions<U> = {},
): Router {
  const manager = new ApiTokenManager<U, P>(tokens, options)
  const prefix = options.prefix ?? '/user/api-tokens'
  const router = Router()
  const json = express.json({ limit: options.bodyLimit ?? '100kb', strict: true })
  const send = (res: Response, result: { status: number; body?: unknown }) =>
    result.body === undefined ? res.status(result.status).end() : res.status(result.status).json(result.body)
  router.get(prefix, async (req, res) => send(res, await manager.list(currentAuth(req))))
  router.post(prefix, json, async (req, res) => send(res, await manager.create(currentAuth(req), req.body)))
  router.put(`${prefix}/:id`, json, async (req, res) =>
    send(res, await manager.update(currentAuth(req), String(req.params.id), req.body)),
  )
  router.delete(`${prefix}/:id`, async (req, res) =>
    send(res, await manager.delete(currentAuth(req), String(req.params.id))),
  )
  router.use(errorHandler())
  return router
}

/**
 * Answers the errors of this library with their status and JSON body, a malformed JSON body with 400, and
 * anything else as a bare 500 without a stack (Express's own handler prints stacks outside production). Add it
 * after your routes.
 *
 * @example
 * ```ts
 * app.use(errorHandler())
 * ```
 */
export function errorHandler(options: { realm?: string } = {}): ErrorRequestHandler {
  return function errorHandler(error: unknown, _req, res, next) {
    if (res.headersSent) return next(error)
    const parseFailure = (error as { type?: string } | null)?.type === 'entity.parse.failed'
    const tooLarge = (error as { type?: string } | null)?.type === 'entity.too.large'
    if (tooLarge) {
      res.status(413).json({ message: 'The request body is too large.', code: 'payload_too_large' })
      return
    }
    respond(
      res,
      parseFailure ? new BadRequestError('The request body is not valid JSON.', { cause: error }) : error,
      options.realm ?? 'api',
    )
  }
}

function currentAuth<P extends string, U = unknown>(req: Request): RequestAuth<U, P> {
  if (!req.auth)
    throw new Error(
      'No auth on this request: use auth(tokens, options) before abilities, ability and apiTokenRoutes.',
    )
  return req.auth as unknown as RequestAuth<U, P>
}

function respond(res: Response, error: unknown, realm = 'api'): void {
  const { status, headers, body } = errorResponse(error, { realm })
  res.status(status).set(headers).json(body)
}
