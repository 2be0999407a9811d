import {
  apiTokenPage,
  findUser,
  type Permission,
  type Post,
  PostRepository,
  posts,
  postTitle,
  signIn,
  titleRequired,
  userForToken,
} from '@examples/shared'
import { type AuthEnv, abilities, ability, apiTokenRoutes, auth } from '@jetstream/hono'
import type { TokenService } from '@jetstream/tokens'
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
  // The session is the signed-in user's id in a signed cookie, set by sign-in and cleared by sign-out only: no
  // other answer, a bearer API call's least of all, sends a cookie.
  const cookie = { path: '/', httpOnly: true, sameSite: 'Lax', maxAge: 2 * 60 * 60 } as const
  const sessionUser = async (c: Context) => {
    const id = await getSignedCookie(c, sessionKey, 'session')
    return typeof id === 'string' ? findUser(id) : null
  }

  app.get('/', (c) => c.html(apiTokenPage()))

  // Sign-in for the page: the session cookie is how first-party requests authenticate.
  app.get('/session', async (c) => {
    const user = await sessionUser(c)
    return user ? c.json({ user }) : c.json({ message: 'Unauthenticated.', code: 'unauthenticated' }, 401)
  })
  app.post('/session', async (c) => {
    const body = (await c.req.json().catch(() => null)) as { email?: unknown; password?: unknown } | null
    const user = signIn(body?.email, body?.password)
    if (!user) {
      const message = 'These credentials do not match our records.'
      return c.json({ message, code: 'invalid_input', errors: { email: [message] } }, 422)
    }
    await setSignedCookie(c, 'session', user.id, sessionKey, cookie)
    return c.json({ user })
  })
  app.delete('/session', (c) => {
    deleteCookie(c, 'session', { path: '/' })
    return c.body(null, 204)
  })

  // Everything below needs a signed-in user: by the session cookie, or by a bearer token.
  const api = new Hono<Env>()
  api.use(auth(tokens, { session: sessionUser, user: userForToken }))
  api.route('/', apiTokenRoutes(tokens))

  const find = (c: Context<Env>): Post | Response =>
    repository.find(c.req.param('id') ?? '') ?? c.json({ message: 'No such post.', code: 'not_found' }, 404)
  api.get('/api/posts', abilities('read'), (c) => c.json({ posts: repository.all() }))
  api.get('/api/posts/:id', abilities('read'), async (c) => {
    const post = find(c)
    if (post instanceof Response) return post
    await c.var.auth.authorize(posts.view, post)
    return c.json({ post })
  })
  api.post('/api/posts', abilities('create'), async (c) => {
    const title = postTitle(await c.req.json().catch(() => null))
    if (!title) return c.json(titleRequired, 422)
    return c.json({ post: repository.create(c.var.auth.user.id, title) }, 201)
  })
  api.put('/api/posts/:id', abilities('update'), async (c) => {
    const post = find(c)
    if (post instanceof Response) return post
    await c.var.auth.authorize(posts.update, post)
    const title = postTitle(await c.req.json().catch(() => null))
    if (!title) return c.json(titleRequired, 422)
    return c.json({ post: repository.update(post, title) })
  })
  api.delete('/api/posts/:id', ability('delete'), async (c) => {
    const post = find(c)
    if (post instanceof Response) return post
    await c.var.auth.authorize(posts.delete, post)
    repository.delete(post)
    return c.body(null, 204)
  })
  app.route('/', api)
  return app
}
