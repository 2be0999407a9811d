import {
  apiTokenPage,
  findUser,
  MemorySessionStore,
  notFound,
  type Permission,
  type Post,
  PostRepository,
  posts,
  postTitle,
  SESSION_LIFETIME,
  SignInThrottle,
  signInRefusal,
  titleRequired,
  userForToken,
} from '@examples/shared'
import { type AuthState, abilities, ability, apiTokenRoutes, auth, errorHandler } from '@jetstream/koa'
import type { TokenService } from '@jetstream/tokens'
// Headers as the adapters read them: as sent (Express's and Koa's own getters read `Referrer` for `referer`).
import { nodeHeader, readJsonObject } from '@jetstream/tokens/adapter'
import { Router } from '@koa/router'
import Koa, { type Context, type ParameterizedContext } from 'koa'
import session from 'koa-session'

/** What the app is built from. */
export interface AppOptions {
  readonly tokens: TokenService<Permission>
  /** Signs the session cookie. */
  readonly sessionKey: string
  readonly posts?: PostRepository
}

type ApiContext = ParameterizedContext<AuthState>

// Where the token routes are (their default prefix), and so where a signed-in user is required.
const TOKEN_ROUTES = '/user/api-tokens'

/** The example app: cookie sessions, the API-token page and routes, and a posts API guarded by the shared policies. */
export function createApp({ tokens, sessionKey, posts: repository = new PostRepository() }: AppOptions): Koa {
  const app = new Koa()
  app.keys = [sessionKey]
  // JSON as the token routes send it: `application/json`, which has no charset parameter (RFC 8259); Koa adds one
  // to a body it serialises itself.
  app.use(async (ctx, next) => {
    await next()
    const body: unknown = ctx.body
    const plain =
      typeof body === 'object' &&
      body !== null &&
      [Object.prototype, Array.prototype, null].includes(Object.getPrototypeOf(body))
    if (plain && ctx.response.is('json')) {
      ctx.body = JSON.stringify(body)
      ctx.set('Content-Type', 'application/json')
    }
  })
  // This library's errors (a body refused by readJsonObject, say) answered as every adapter answers them.
  app.use(errorHandler())
  // The session lives on the server; its cookie holds a random key, signed, so signing out ends it for good.
  app.use(
    session(
      {
        key: 'session',
        maxAge: SESSION_LIFETIME,
        httpOnly: true,
        sameSite: 'lax',
        signed: true,
        store: new MemorySessionStore(),
      },
      app,
    ),
  )
  const sessionUser = (ctx: Context) => findUser(ctx.session?.userId)
  const throttle = new SignInThrottle()
  const json = (ctx: Context) =>
    readJsonObject(ctx.req, {
      header: (name) => nodeHeader(ctx.req.headers, name),
      limit: 102_400,
    })

  // Routes matched as Hono matches them: `/API/POSTS` and `/api/posts/` are no route of the app.
  const routing = { sensitive: true, strict: true } as const
  const open = new Router(routing)
  open.get('/', (ctx) => {
    ctx.type = 'html'
    ctx.body = apiTokenPage()
  })
  // Sign-in for the page: the session cookie is how first-party requests authenticate.
  open.get('/session', (ctx) => {
    const user = sessionUser(ctx)
    ctx.status = user ? 200 : 401
    ctx.body = user ? { user } : { message: 'Unauthenticated.', code: 'unauthenticated' }
  })
  open.post('/session', async (ctx) => {
    const refusal = signInRefusal({
      contentType: nodeHeader(ctx.req.headers, 'content-type'),
      origin: nodeHeader(ctx.req.headers, 'origin'),
      referer: nodeHeader(ctx.req.headers, 'referer'),
      host: nodeHeader(ctx.req.headers, 'host'),
    })
    if (refusal) {
      ctx.status = refusal.status
      ctx.body = refusal.body
      return
    }
    const fields = await json(ctx)
    const result = throttle.attempt(fields.email, fields.password, ctx.ip)
    if ('refusal' in result) {
      ctx.status = result.refusal.status
      ctx.set(result.refusal.headers)
      ctx.body = result.refusal.body
      return
    }
    const { user } = result
    // A new key on every sign-in, so a key planted before it is worthless.
    await ctx.session?.regenerate()
    if (ctx.session) ctx.session.userId = user.id
    ctx.body = { user }
  })
  open.delete('/session', (ctx) => {
    ctx.session = null
    ctx.status = 204
  })
  app.use(open.routes())

  // Everything below needs a signed-in user: by the session cookie, or by a bearer token.
  const api = new Router<AuthState>(routing)
  const signedIn = auth(tokens, { session: sessionUser, user: userForToken })
  const find = (ctx: ApiContext): Post | null => {
    const post = repository.find(ctx.params.id ?? '')
    if (!post) {
      ctx.status = 404
      ctx.body = { message: 'No such post.', code: 'not_found' }
    }
    return post
  }
  const invalidTitle = (ctx: ApiContext) => {
    ctx.status = 422
    ctx.body = titleRequired
  }
  api.get('/api/posts', signedIn, abilities('read'), (ctx) => {
    ctx.body = { posts: repository.all() }
  })
  api.get('/api/posts/:id', signedIn, abilities('read'), async (ctx) => {
    const post = find(ctx)
    if (!post) return
    await ctx.state.auth.authorize(posts.view, post)
    ctx.body = { post }
  })
  api.post('/api/posts', signedIn, abilities('create'), async (ctx) => {
    const title = postTitle(await json(ctx))
    if (!title) return invalidTitle(ctx)
    ctx.status = 201
    ctx.body = { post: repository.create(ctx.state.auth.user.id, title) }
  })
  api.put('/api/posts/:id', signedIn, abilities('update'), async (ctx) => {
    const post = find(ctx)
    if (!post) return
    await ctx.state.auth.authorize(posts.update, post)
    const title = postTitle(await json(ctx))
    if (!title) return invalidTitle(ctx)
    ctx.body = { post: repository.update(post, title) }
  })
  api.delete('/api/posts/:id', signedIn, ability('delete'), async (ctx) => {
    const post = find(ctx)
    if (!post) return
    await ctx.state.auth.authorize(posts.delete, post)
    repository.delete(post)
    ctx.status = 204
  })
  app.use(api.routes())
  app.use(async (ctx, next) =>
    ctx.path === TOKEN_ROUTES || ctx.path.startsWith(`${TOKEN_ROUTES}/`)
      ? signedIn(ctx as never, next)
      : next(),
  )
  app.use(apiTokenRoutes(tokens))
  app.use((ctx) => {
    ctx.status = 404
    ctx.body = notFound
  })
  return app
}
