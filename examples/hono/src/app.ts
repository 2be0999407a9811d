import { randomBytes } from 'node:crypto'
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
import { getConnInfo } from '@hono/node-server/conninfo'
import { type AuthEnv, abilities, ability, apiTokenRoutes, auth, errorHandler } from '@jetstream/hono'
import type { TokenService } from '@jetstream/tokens'
import { readJsonObject } from '@jetstream/tokens/adapter'
import { type Context, Hono } from 'hono'
import { deleteCookie, getSignedCookie, setSignedCookie } from 'hono/cookie'

type Env = AuthEnv

/** What the app is built from. */
export interface AppOptions {
  readonly tokens: TokenService<Permission>
  /** Signs the session cookie; at least 32 characters. */
  readonly sessionKey: string
  readonly posts?: PostRepository
}

/** The example app: cookie sessions, the API-token page and routes, and a posts API guarded by the shared policies. */
export function createApp({
  tokens,
  sessionKey,
  posts: repository = new PostRepository(),
}: AppOptions): Hono<Env> {
  const app = new Hono<Env>()
  // This library's errors (a body refused by readJsonObject, say) answered as every adapter answers them.
  app.onError(errorHandler())
  app.notFound((c) => c.json(notFound, 404))
  // The session lives on the server; its cookie holds a random key, signed, set by sign-in and cleared by sign-out
  // only: no other answer, a bearer API call's least of all, sends a cookie.
  const sessions = new MemorySessionStore<{ userId: string }>()
  const throttle = new SignInThrottle()
  const cookie = { path: '/', httpOnly: true, sameSite: 'Lax', maxAge: SESSION_LIFETIME / 1000 } as const
  const sessionKeyOf = async (c: Context) => {
    const key = await getSignedCookie(c, sessionKey, 'session')
    return typeof key === 'string' ? key : null
  }
  const sessionUser = async (c: Context) => {
    const key = await sessionKeyOf(c)
    return key === null ? null : findUser((await sessions.get(key))?.userId)
  }
  const body = (c: Context) =>
    readJsonObject(c.req.raw.body, { header: (name) => c.req.header(name), limit: 102_400 })

  app.get('/', (c) => c.html(apiTokenPage()))

  // Sign-in for the page: the session cookie is how first-party requests authenticate.
  app.get('/session', async (c) => {
    const user = await sessionUser(c)
    return user ? c.json({ user }) : c.json({ message: 'Unauthenticated.', code: 'unauthenticated' }, 401)
  })
  app.post('/session', async (c) => {
    const refusal = signInRefusal({
      contentType: c.req.header('content-type'),
      origin: c.req.header('origin'),
      referer: c.req.header('referer'),
      host: c.req.header('host'),
    })
    if (refusal) return c.json(refusal.body, refusal.status)
    const fields = await body(c)
    const address = getConnInfo(c).remote.address
    const result = throttle.attempt(fields.email, fields.password, address)
    if ('refusal' in result) return c.json(result.refusal.body, result.refusal.status, result.refusal.headers)
    const { user } = result
    // A new key on every sign-in, so a key planted before it is worthless.
    const previous = await sessionKeyOf(c)
    if (previous !== null) await sessions.destroy(previous)
    const key = randomBytes(32).toString('base64url')
    await sessions.set(key, { userId: user.id }, SESSION_LIFETIME)
    await setSignedCookie(c, 'session', key, sessionKey, cookie)
    return c.json({ user })
  })
  app.delete('/session', async (c) => {
    const key = await sessionKeyOf(c)
    if (key !== null) await sessions.destroy(key)
    deleteCookie(c, 'session', { path: '/' })
    return c.body(null, 204)
  })

  // Everything below needs a signed-in user: by the session cookie, or by a bearer token. On each route rather
  // than a whole path, so a path or method no route has is a 404, as in the other example apps.
  const api = new Hono<Env>()
  const signedIn = auth(tokens, { session: sessionUser, user: userForToken })
  api.use('/user/api-tokens', signedIn)
  api.use('/user/api-tokens/*', signedIn)
  api.route('/', apiTokenRoutes(tokens))

  const find = (c: Context<Env>): Post | Response =>
    repository.find(c.req.param('id') ?? '') ?? c.json({ message: 'No such post.', code: 'not_found' }, 404)
  api.get('/api/posts', signedIn, abilities('read'), (c) => c.json({ posts: repository.all() }))
  api.get('/api/posts/:id', signedIn, abilities('read'), async (c) => {
    const post = find(c)
    if (post instanceof Response) return post
    await c.var.auth.authorize(posts.view, post)
    return c.json({ post })
  })
  api.post('/api/posts', signedIn, abilities('create'), async (c) => {
    const title = postTitle(await body(c))
    if (!title) return c.json(titleRequired, 422)
    return c.json({ post: repository.create(c.var.auth.user.id, title) }, 201)
  })
  api.put('/api/posts/:id', signedIn, abilities('update'), async (c) => {
    const post = find(c)
    if (post instanceof Response) return post
    await c.var.auth.authorize(posts.update, post)
    const title = postTitle(await body(c))
    if (!title) return c.json(titleRequired, 422)
    return c.json({ post: repository.update(post, title) })
  })
  api.delete('/api/posts/:id', signedIn, ability('delete'), async (c) => {
    const post = find(c)
    if (post instanceof Response) return post
    await c.var.auth.authorize(posts.delete, post)
    repository.delete(post)
    return c.body(null, 204)
  })
  app.route('/', api)
  return app
}
