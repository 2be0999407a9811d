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
import { Router } from '@koa/router'
import coBody from 'co-body'
import type { Context, Middleware, Next, ParameterizedContext } from 'koa'

/**
 * The Koa state the middleware provides: `ctx.state.auth`. Use it as your middleware's state type.
 *
 * @example
 * ```ts
 * router.get('/me', (ctx: ParameterizedContext<AuthState<User, Permission>>) => { ctx.body = ctx.state.auth.user })
 * ```
 */
export interface AuthState<U = unknown, P extends string = string> {
  auth: RequestAuth<U, P>
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
 * `ctx.state.auth`; answers 401 when `required` (the default) and nobody is signed in. Errors of this library
 * thrown further down (a policy's refusal, a missing ability) are answered as JSON with the right status.
 *
 * @example
 * ```ts
 * app.use(auth(tokens, { session: (ctx) => ctx.session?.user, user: (token) => users.find(token.owner.id) }))
 * ```
 */
export function auth<U, P extends string>(
  tokens: TokenService<P>,
  options: AuthOptions<U, P>,
): Middleware<AuthState<U, P>> {
  const guard = new RequestGuard<U, P, Context>(tokens, options, {
    method: (ctx) => ctx.method,
    header: (ctx, name) => ctx.get(name) || undefined,
  })
  const required = options.required ?? true
  const realm = options.realm ?? 'api'
  // A refusal here or further down (a policy's, a missing ability) is answered as JSON; anything else is Koa's.
  const refuse = (ctx: Context, error: unknown) => {
    if (!isTokenError(error)) throw error
    respond(ctx, error, realm)
  }
  const enter = (ctx: Context, resolved: RequestAuth<U, P>, next: Next): Promise<void> | undefined => {
    if (required && resolved.user === null) {
      respond(ctx, new UnauthenticatedError({ tokenRejected: resolved.tokenRejected }), realm)
      return undefined
    }
    ctx.state.auth = resolved
    return next().catch((error: unknown) => refuse(ctx, error))
  }
  // Not an async function: a request whose auth needs no lookup (a session, a cached token) pays for no promise
  // of its own.
  return function auth(ctx, next) {
    const context = ctx as unknown as Context
    let resolved: RequestAuth<U, P> | Promise<RequestAuth<U, P>>
    try {
      resolved = guard.resolve(context)
    } catch (error) {
      return Promise.resolve(refuse(context, error))
    }
    return resolved instanceof Promise
      ? resolved.then(
          (found) => enter(context, found, next),
          (error: unknown) => refuse(context, error),
        )
      : Promise.resolve(enter(context, resolved, next))
  }
}

/**
 * Needs every listed ability (Sanctum's `abilities` middleware): 401 without auth, 403 naming the missing ones.
 *
 * @example
 * ```ts
 * router.post('/posts', abilities('create', 'read'), createPost)
 * ```
 */
export function abilities<P extends string>(...required: P[]): Middleware {
  return function abilities(ctx, next) {
    assertAbilities(currentAuth<unknown, P>(ctx), required)
    return next()
  }
}

/**
 * Needs at least one listed ability (Sanctum's `ability` middleware): 401 without auth, 403 otherwise.
 *
 * @example
 * ```ts
 * router.delete('/posts/:id', ability('delete', 'admin'), deletePost)
 * ```
 */
export function ability<P extends string>(...anyOf: P[]): Middleware {
  return function ability(ctx, next) {
    assertAnyAbility(currentAuth<unknown, P>(ctx), anyOf)
    return next()
  }
}

/**
 * Jetstream's API-token routes for the signed-in user's own tokens, as a `@koa/router` router: `GET` (list),
 * `POST` (create; the plain text is in this answer only), `PUT /:id` (permissions), `DELETE /:id`. Mount after
 * {@link auth}.
 *
 * @example
 * ```ts
 * const tokenRoutes = apiTokenRoutes(tokens)
 * app.use(tokenRoutes.routes()).use(tokenRoutes.allowedMethods())
 * ```
 */
export function apiTokenRoutes<U, P extends string>(
  tokens: TokenService<P>,
  options: ApiTokenRoutesOptions<U> = {},
): Router<AuthState<U, P>> {
  const manager = new ApiTokenManager<U, P>(tokens, options)
  const limit = options.bodyLimit ?? '100kb'
  const router = new Router<AuthState<U, P>>({ prefix: options.prefix ?? '/user/api-tokens' })
  const json = async (ctx: ParameterizedContext) => {
    try {
      return await coBody.json(ctx.req, { limit, strict: true })
    } catch (error) {
      const status = (error as { status?: number }).status
      if (status === 413) throw error // koa answers 413 for a body over the limit
      throw new BadRequestError('The request body is not valid JSON.', { cause: error })
    }
  }
  const send = (ctx: ParameterizedContext, result: { status: number; body?: unknown }) => {
    ctx.status = result.status
    if (result.body !== undefined) ctx.body = result.body
  }
  router.get('/', async (ctx) => send(ctx, await manager.list(currentAuth(ctx))))
  router.post('/', async (ctx) => send(ctx, await manager.create(currentAuth(ctx), await json(ctx))))
  router.put('/:id', async (ctx) =>
    send(ctx, await manager.update(currentAuth(ctx), ctx.params.id ?? '', await json(ctx))),
  )
  router.delete('/:id', async (ctx) => send(ctx, await manager.delete(currentAuth(ctx), ctx.params.id ?? '')))
  return router
}

/**
 * Answers any error this library raises with its status and JSON body, anywhere below it; use it at the top when
 * routes throw outside {@link auth} (its own catch covers what runs after it).
 *
 * @example
 * ```ts
 * app.use(errorHandler())
 * ```
 */
export function errorHandler(options: { realm?: string } = {}): Middleware {
  return async function errorHandler(ctx, next) {
    try {
      await next()
    } catch (error) {
      if (!isTokenError(error)) throw error
      respond(ctx, error, options.realm ?? 'api')
    }
  }
}

// The ability middlewares add nothing to the app's state type (an intersection would widen `tokenCan` to any
// string), so they read the auth through a plain context.
function currentAuth<U, P extends string>(ctx: ParameterizedContext): RequestAuth<U, P> {
  const found = (ctx.state as Partial<AuthState<U, P>>).auth
  if (!found)
    throw new Error(
      'No auth on this request: use auth(tokens, options) before abilities, ability and apiTokenRoutes.',
    )
  return found
}

function respond(ctx: ParameterizedContext, error: unknown, realm: string): void {
  const { status, headers, body } = errorResponse(error, { realm })
  ctx.status = status
  ctx.set(headers)
  ctx.body = body
}
