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
  isRefusal,
  nodeHeader,
  type RequestBody,
  RequestGuard,
  requireAuth,
  targetPath,
} from '@jetstream/tokens/adapter'
import type { Context, Middleware, Next, ParameterizedContext } from 'koa'

/**
 * The Koa state the middleware provides: `ctx.state.auth`. Its types default to what the app registered (see
 * `Register` in `@jetstream/tokens`); for routes where auth is optional, use `AuthState<User | null>`.
 *
 * @example
 * ```ts
 * router.get('/me', (ctx: ParameterizedContext<AuthState>) => { ctx.body = ctx.state.auth.user })
 * ```
 */
export interface AuthState<U = RegisteredUser, P extends string = RegisteredPermission> {
  auth: Auth<U, P>
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
 * `ctx.state.auth`; answers 401 when `required` (the default) and nobody is signed in. Refusals raised further
 * down (a policy's, through `auth.authorize`) are answered too. Every answer is the core's, the same in every
 * framework.
 *
 * @example
 * ```ts
 * app.use(auth(tokens, { session: (ctx) => ctx.session?.user, user: (token) => users.find(token.owner.id) }))
 * ```
 */
export function auth<U = RegisteredUser, P extends string = RegisteredPermission>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P> & { readonly required?: true },
): Middleware<AuthState<U, P>>
export function auth<U = RegisteredUser, P extends string = RegisteredPermission>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): Middleware<AuthState<U | null, P>>
export function auth<U, P extends string>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): Middleware<AuthState<U | null, P>> {
  const guard = new RequestGuard<U, P, Context>(tokens, options, {
    method: (ctx) => ctx.method,
    header: (ctx, name) => nodeHeader(ctx.req.headers, name),
    // Koa's `ctx.ip` follows `app.proxy` (X-Forwarded-For only when the app trusts its proxy).
    address: (ctx) => ctx.ip || undefined,
    currentAuth: (ctx) => (ctx.state as Partial<AuthState<unknown, string>>).auth,
    refusal: (error) => {
      refusals.add(error)
      return error
    },
  })
  const enter = (
    ctx: Context,
    resolved: Auth<U | null, P> | HttpAnswer,
    next: Next,
  ): Promise<void> | undefined => {
    if (resolved instanceof HttpAnswer) {
      send(ctx, resolved)
      return undefined
    }
    ctx.state.auth = resolved
    return next().catch((error: unknown) => refuse(ctx, error))
  }
  // Not an async function: a request whose auth needs no lookup (a session, a cached token) pays for no promise
  // of its own.
  return function auth(ctx, next) {
    const context = ctx as unknown as Context
    const resolved = guard.resolve(context)
    return resolved instanceof Promise
      ? resolved.then((found) => enter(context, found, next))
      : Promise.resolve(enter(context, resolved, next))
  }
}

/**
 * Needs every listed ability (Sanctum's `abilities` middleware): 401 without auth, 403 naming the missing ones.
 * The names are the app's registered permissions, so a typo does not compile.
 *
 * @example
 * ```ts
 * router.post('/posts', abilities('create', 'read'), createPost)
 * ```
 */
export function abilities<P extends string = RegisteredPermission>(...required: NoInfer<P>[]): Middleware {
  return checking('abilities', 'all', required)
}

/**
 * Needs at least one listed ability (Sanctum's `ability` middleware): 401 without auth, 403 otherwise.
 *
 * @example
 * ```ts
 * router.delete('/posts/:id', ability('delete', 'admin'), deletePost)
 * ```
 */
export function ability<P extends string = RegisteredPermission>(...anyOf: NoInfer<P>[]): Middleware {
  return checking('ability', 'any', anyOf)
}

// A middleware that runs the core's ability check and sends its refusal; named for stack traces.
function checking(name: string, mode: AbilityMode, listed: readonly string[]): Middleware {
  const check = abilityCheck(mode, listed)
  const middleware: Middleware = (ctx, next) => {
    const refusal = check(currentAuth(ctx))
    // A promise only where ability limits live outside this process.
    if (refusal instanceof Promise) {
      return refusal.then((answer) => (answer ? send(ctx as unknown as Context, answer) : next()))
    }
    if (!refusal) return next()
    send(ctx as unknown as Context, refusal)
    return Promise.resolve()
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
): Middleware<AuthState<U | null, P>> {
  const routes = new ApiTokenRoutes<U, P>(tokens, options)
  const prefix = routes.prefix
  return async function apiTokenRoutes(ctx, next) {
    // Read as Hono and Express read it (Koa's own `ctx.path` drops a `#…` the client sent).
    const path = targetPath(ctx.url)
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return next()
    const parsed = (ctx.request as { body?: unknown }).body
    const answer = await routes.handle({
      method: ctx.method,
      path: path.slice(prefix.length),
      header: (name) => nodeHeader(ctx.req.headers, name),
      // A body parser of the app's own (koa-bodyparser) may have read it already.
      body: parsed !== undefined ? { parsed } : (ctx.req as unknown as RequestBody),
      auth: ctx.state.auth,
      ...(ctx.ip && { address: ctx.ip }),
    })
    send(ctx as unknown as Context, answer)
  }
}

/**
 * Answers every error below it as the core builds it, the same in every adapter: the errors of this library, client
 * errors marked `expose` (`ctx.throw(404)`) with their own status and `headers`, and anything else as a bare 500
 * without a stack, reported to `report` (default: the app's `error` event, where Koa's own logging hears it). Use
 * it at the top: it answers what routes throw, behind {@link auth} or not (`auth` answers only the refusals of its
 * own `authorize`).
 *
 * @example
 * ```ts
 * app.use(errorHandler())
 * ```
 */
export function errorHandler(options: ErrorHandlerOptions = {}): Middleware {
  return async function errorHandler(ctx, next) {
    try {
      await next()
    } catch (error) {
      send(
        ctx as unknown as Context,
        answerError(error, options, (failure) => ctx.app.emit('error', failure, ctx)),
      )
    }
  }
}

// The refusals `auth.authorize` raised (a policy's): the ones `auth` answers itself, as Hono's `HTTPException`
// answers them there. What the app throws (this library's errors included) goes on up, to `errorHandler` (and its
// `realm`) as in Hono and Express.
const refusals = new WeakSet<object>()

function refuse(ctx: Context, error: unknown): void {
  if (!(isRefusal(error) && refusals.has(error))) throw error
  send(ctx, errorAnswer(error))
}

function currentAuth(ctx: ParameterizedContext): Auth<unknown, string> {
  return requireAuth((ctx.state as Partial<AuthState<unknown, string>>).auth)
}

function send(ctx: Context, answer: HttpAnswer): void {
  ctx.status = answer.status
  ctx.set(answer.headers as Record<string, string>)
  ctx.body = answer.body === '' ? null : answer.body
}
