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
  HttpAnswer,
  nodeHeader,
  type RequestBody,
  RequestGuard,
  requireAuth,
  signedInAuth,
  targetPath,
} from '@jetstream/tokens/adapter'
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /**
       * Set by `auth(tokens, options)` from `@jetstream/express`, typed with the app's registered user and
       * permissions (see `Register` in `@jetstream/tokens`). Read it with `authOf(req)` behind a required `auth`.
       */
      auth?: Auth<RegisteredUser | null, RegisteredPermission>
    }
  }
}

/**
 * `req.auth` behind a required {@link auth}: the signed-in user, typed with the app's registered user and
 * permissions (or the ones given). Throws when {@link auth} did not run before, which is a wiring mistake, and
 * `UnauthenticatedError` (401 through {@link errorHandler}) for a guest that an `auth(…, { required: false })` let
 * through, rather than hand on a user that is null.
 *
 * @example
 * ```ts
 * app.put('/posts/:id', async (req, res) => {
 *   const auth = authOf(req)
 *   auth.tokenCan('update') // 'updte' would not compile
 *   auth.user.id // the app's User, not User | null
 * })
 * ```
 */
export function authOf<U = RegisteredUser, P extends string = RegisteredPermission>(
  req: Request,
): Auth<U, P> {
  return signedInAuth(currentAuth(req)) as unknown as Auth<U, P>
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
  Request
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
 * `req.auth`; answers 401 when `required` (the default) and nobody is signed in. Every answer is the core's, the
 * same in every framework.
 *
 * @example
 * ```ts
 * app.use(auth(tokens, { session: (req) => req.session.user ?? null, user: (token) => users.find(token.owner.id) }))
 * ```
 */
export function auth<U = RegisteredUser, P extends string = RegisteredPermission>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): RequestHandler {
  const guard = new RequestGuard<U, P, Request>(tokens, options, {
    method: (req) => req.method,
    header: (req, name) => nodeHeader(req.headers, name),
    // Express's `req.ip` follows the app's `trust proxy` setting.
    address: (req) => req.ip,
    currentAuth: (req) => req.auth,
  })
  const enter = (
    req: Request,
    res: Response,
    next: NextFunction,
    resolved: Auth<U | null, P> | HttpAnswer,
  ) => {
    if (resolved instanceof HttpAnswer) return send(res, resolved)
    req.auth = resolved as unknown as NonNullable<Request['auth']>
    next()
  }
  // Not an async function: a request whose auth needs no lookup (a session, a cached token) pays for no promise.
  return function auth(req, res, next) {
    const resolved = guard.resolve(req)
    if (!(resolved instanceof Promise)) return enter(req, res, next, resolved)
    // Returned, so that Express 5 passes anything thrown further on to the app's error handler.
    return resolved.then((found) => enter(req, res, next, found))
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
): RequestHandler {
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
export function ability<P extends string = RegisteredPermission>(...anyOf: NoInfer<P>[]): RequestHandler {
  return checking('ability', 'any', anyOf)
}

// A middleware that runs the core's ability check and sends its refusal; named for stack traces.
function checking(name: string, mode: AbilityMode, listed: readonly string[]): RequestHandler {
  const check = abilityCheck(mode, listed)
  const middleware: RequestHandler = (req, res, next) => {
    const refusal = check(currentAuth(req))
    // A promise only where ability limits live outside this process.
    if (refusal instanceof Promise) {
      refusal.then((answer) => (answer ? send(res, answer) : next()), next)
      return
    }
    if (refusal) return send(res, refusal)
    next()
  }
  return Object.defineProperty(middleware, 'name', { value: name })
}

/**
 * Jetstream's API-token routes for the signed-in user's own tokens, as one middleware for everything below the
 * prefix: `GET` (list), `POST` (create; the plain text is in this answer only), `PUT /:id` (permissions),
 * `DELETE /:id`. Only the user's session may use them unless `bearerAbility` is set. Mount after {@link auth};
 * other paths pass through.
 *
 * @example
 * ```ts
 * app.use(auth(tokens, { session, user }))
 * app.use(apiTokenRoutes(tokens))
 * ```
 */
export function apiTokenRoutes<U = RegisteredUser, P extends string = RegisteredPermission>(
  tokens: TokenService<P>,
  options: ApiTokenRoutesOptions<U, P> = {},
): RequestHandler {
  const routes = new ApiTokenRoutes<U, P>(tokens, options)
  const prefix = routes.prefix
  return async function apiTokenRoutes(req, res, next) {
    // The raw path (Express's own `req.path` is the same, undecoded), so the core judges ids as they arrived.
    const path = targetPath(req.url)
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return next()
    const answer = await routes.handle({
      method: req.method,
      path: path.slice(prefix.length),
      header: (name) => nodeHeader(req.headers, name),
      // A body parser of the app's own (`express.json()`) may have read it already.
      body: req.body !== undefined ? { parsed: req.body } : (req as unknown as RequestBody),
      auth: req.auth as Auth<U | null, P> | undefined,
      ...(req.ip !== undefined && { address: req.ip }),
    })
    send(res, answer)
  }
}

/**
 * Answers as the core builds it, the same in every adapter: the errors of this library, client errors marked
 * `expose` (the 400/413/415 of Express's body parsers, an app's `createError(404)`) with their own status and
 * `headers`, and
 * anything else as a bare 500 without a stack (Express's own handler prints stacks outside production), reported to
 * `report` (default `console.error`, as Express's own handler does). Add it after your routes.
 *
 * @example
 * ```ts
 * app.use(errorHandler())
 * ```
 */
export function errorHandler(options: ErrorHandlerOptions = {}): ErrorRequestHandler {
  return function errorHandler(error: unknown, _req, res, next) {
    if (res.headersSent) return next(error)
    send(res, answerError(error, options))
  }
}

function currentAuth(req: Request): Auth<unknown, string> {
  return requireAuth(req.auth as Auth<unknown, string> | undefined)
}

// Written with Node's own calls: Express's `res.json`/`res.send` would add a charset and an ETag of their own. The
// answer is the core's alone, as in Hono and Koa: Express's `X-Powered-By`, set on every response, is taken off.
function send(res: Response, answer: HttpAnswer): void {
  res.removeHeader('x-powered-by')
  res.statusCode = answer.status
  for (const name in answer.headers) res.setHeader(name, answer.headers[name] as string)
  res.end(answer.body === '' ? undefined : answer.body)
}
