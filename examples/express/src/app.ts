import {
  apiTokenPage,
  findUser,
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
import { abilities, ability, apiTokenRoutes, auth, authOf, errorHandler } from '@jetstream/express'
import type { TokenService } from '@jetstream/tokens'
// Headers as the adapters read them: as sent (Express's and Koa's own getters read `Referrer` for `referer`).
import { nodeHeader, readJsonObject } from '@jetstream/tokens/adapter'
import express, { type Express, type Request, type Response } from 'express'
import session from 'express-session'

declare module 'express-session' {
  interface SessionData {
    userId: string
  }
}

/** What the app is built from. */
export interface AppOptions {
  readonly tokens: TokenService<Permission>
  /** Signs the session cookie. */
  readonly sessionKey: string
  readonly posts?: PostRepository
}

/** The example app: cookie sessions, the API-token page and routes, and a posts API guarded by the shared policies. */
export function createApp({
  tokens,
  sessionKey,
  posts: repository = new PostRepository(),
}: AppOptions): Express {
  const app = express()
  // Nothing the other example apps do not send: no X-Powered-By, no ETag (nor the 304s it would bring).
  app.disable('x-powered-by')
  app.set('etag', false)
  // Routes matched as Hono matches them: `/API/POSTS` and `/api/posts/` are no route of the app.
  app.set('case sensitive routing', true)
  app.set('strict routing', true)
  app.use(
    session({
      name: 'session',
      secret: sessionKey,
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: SESSION_LIFETIME },
    }),
  )
  const sessionUser = (req: Request) => findUser(req.session.userId)
  // JSON as the token routes send it: `application/json`, which has no charset parameter (RFC 8259); Express's
  // `res.json` and `res.set` would add one, so Node's own `setHeader`.
  const throttle = new SignInThrottle()
  const send = (res: Response, status: number, body: unknown) =>
    void res.status(status).setHeader('content-type', 'application/json').end(JSON.stringify(body))
  // The same reading as the other example apps and the token routes: 415, 413 and 400 as the core answers them.
  const json = (req: Request) =>
    readJsonObject(req, { header: (name) => nodeHeader(req.headers, name), limit: 102_400 })

  app.get('/', (_req, res) => {
    res.type('html').send(apiTokenPage())
  })
  // Sign-in for the page: the session cookie is how first-party requests authenticate.
  app.get('/session', (req, res) => {
    const user = sessionUser(req)
    if (user) send(res, 200, { user })
    else send(res, 401, { message: 'Unauthenticated.', code: 'unauthenticated' })
  })
  app.post('/session', async (req, res, next) => {
    const refusal = signInRefusal({
      contentType: nodeHeader(req.headers, 'content-type'),
      origin: nodeHeader(req.headers, 'origin'),
      referer: nodeHeader(req.headers, 'referer'),
      host: nodeHeader(req.headers, 'host'),
    })
    if (refusal) return send(res, refusal.status, refusal.body)
    const fields = await json(req)
    const result = throttle.attempt(fields.email, fields.password, req.ip)
    if ('refusal' in result) {
      for (const [name, value] of Object.entries(result.refusal.headers)) res.setHeader(name, value)
      return send(res, result.refusal.status, result.refusal.body)
    }
    const { user } = result
    // A new session id on sign-in, so a session fixed before it is worthless.
    req.session.regenerate((error) => {
      if (error) return next(error)
      req.session.userId = user.id
      send(res, 200, { user })
    })
  })
  app.delete('/session', (req, res, next) => {
    req.session.destroy((error) => {
      if (error) return next(error)
      // The browser forgets the cookie too, as the other example apps tell it to.
      res.clearCookie('session', { path: '/', httpOnly: true, sameSite: 'lax' })
      res.status(204).end()
    })
  })

  // Everything below needs a signed-in user: by the session cookie, or by a bearer token.
  const signedIn = auth(tokens, { session: sessionUser, user: userForToken })
  const find = (req: Request, res: Response): Post | null => {
    const post = repository.find(String(req.params.id))
    if (!post) send(res, 404, { message: 'No such post.', code: 'not_found' })
    return post
  }
  const invalidTitle = (res: Response) => send(res, 422, titleRequired)

  app.get('/api/posts', signedIn, abilities('read'), (_req, res) => {
    send(res, 200, { posts: repository.all() })
  })
  app.get('/api/posts/:id', signedIn, abilities('read'), async (req, res) => {
    const post = find(req, res)
    if (!post) return
    await authOf(req).authorize(posts.view, post)
    send(res, 200, { post })
  })
  app.post('/api/posts', signedIn, abilities('create'), async (req, res) => {
    const title = postTitle(await json(req))
    if (!title) return void invalidTitle(res)
    send(res, 201, { post: repository.create(authOf(req).user.id, title) })
  })
  app.put('/api/posts/:id', signedIn, abilities('update'), async (req, res) => {
    const post = find(req, res)
    if (!post) return
    await authOf(req).authorize(posts.update, post)
    const title = postTitle(await json(req))
    if (!title) return void invalidTitle(res)
    send(res, 200, { post: repository.update(post, title) })
  })
  app.delete('/api/posts/:id', signedIn, ability('delete'), async (req, res) => {
    const post = find(req, res)
    if (!post) return
    await authOf(req).authorize(posts.delete, post)
    repository.delete(post)
    res.status(204).end()
  })
  app.use('/user/api-tokens', signedIn)
  app.use(apiTokenRoutes(tokens))
  app.use((_req, res) => send(res, 404, notFound))
  app.use(errorHandler())
  return app
}
