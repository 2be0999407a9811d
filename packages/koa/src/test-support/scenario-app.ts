import type { AddressInfo } from 'node:net'
import {
  limitedRoute,
  type Post,
  posts,
  type RunningApp,
  type ScenarioSetup,
  sharedLimitedRoute,
  thrownError,
  type User,
} from '@jetstream/http-scenarios'
import { bodyParser } from '@koa/bodyparser'
import { Router } from '@koa/router'
import Koa, { type Context } from 'koa'
import { type AuthState, abilities, ability, apiTokenRoutes, auth, errorHandler } from '../index.js'

/** The scenario app, as a Koa user would write it. */
export function scenarioApp(setup: ScenarioSetup): Koa<AuthState> {
  const session = (ctx: Context) => setup.sessionUser(`session=${ctx.cookies.get('session') ?? ''}`)
  const user = (token: { owner: { id: string } }) => setup.userForToken(token.owner.id)
  const app = new Koa<AuthState>()
  // The default report: the app's `error` event, as Koa reports what it answers 500.
  app.on('error', (error) => void setup.reported.push(error))
  app.use(errorHandler({ realm: 'app' }))

  const open = new Router<AuthState<User | null>>()
  // Errors thrown where no `auth` runs: the app's error handler answers them.
  open.get('/thrown/:kind', (ctx) => {
    throw thrownError(ctx.params.kind ?? '')
  })
  // The app failing behind `auth`: answered and reported as outside it.
  open.get('/failing', auth(setup.tokens, { session, user }), () => {
    throw thrownError('bug')
  })
  // The token routes for a signed-in user without an `id` (and no `owner`): a setup that fails only once a request
  // runs, answered 500 and reported.
  open.all(
    '/nameless/api-tokens',
    auth(setup.tokens, { session: () => ({ name: 'No id' }), user }),
    apiTokenRoutes(setup.tokens, { prefix: '/nameless/api-tokens' }),
  )
  // A check mounted without `auth` before it: the app's mistake, answered 500 and reported.
  open.get('/misused', abilities('read'), (ctx) => {
    ctx.body = { ok: true }
  })
  open.get('/maybe', auth(setup.tokens, { session, user, required: false }), (ctx) => {
    ctx.body = { user: ctx.state.auth.user }
  })
  // Below optional auth: a policy asked about a guest, and an error the app throws itself.
  open.get('/maybe/authorize', auth(setup.tokens, { session, user, required: false }), async (ctx) => {
    await ctx.state.auth.authorize(posts.view, setup.posts.get('10') as Post)
    ctx.body = { ok: true }
  })
  open.get('/maybe/thrown/:kind', auth(setup.tokens, { session, user, required: false }), (ctx) => {
    throw thrownError(ctx.params.kind ?? '')
  })
  open.get('/custom/me', auth(setup.tokens, { user, token: 'x-api-token' }), (ctx) => {
    ctx.body = { user: ctx.state.auth.user }
  })
  open.get('/acme/me', auth(setup.tokens, { session, user, realm: 'acme' }), abilities('delete'), (ctx) => {
    ctx.body = { ok: true }
  })
  for (const [group, rateLimit] of [
    ['limited', limitedRoute],
    ['shared', sharedLimitedRoute],
  ] as const) {
    open.get(`/${group}/me`, auth(setup.tokens, { session, user, rateLimit }), (ctx) => {
      ctx.body = { user: ctx.state.auth.user }
    })
    open.post(
      `/${group}/posts`,
      auth(setup.tokens, { session, user, rateLimit }),
      abilities('create'),
      (ctx) => {
        ctx.status = 201
        ctx.body = { created: true }
      },
    )
    // The same `auth` mounted twice on one route (say, on the app and again on the route).
    const once = auth(setup.tokens, { session, user, rateLimit })
    open.get(`/${group}/twice`, once, once, (ctx) => {
      ctx.body = { user: ctx.state.auth.user }
    })
  }
  app.use(open.routes())

  const api = new Router<AuthState>()
  api.get('/me', (ctx) => {
    const { user: me, token, tokenCan } = ctx.state.auth
    ctx.body = {
      user: me,
      via: 'transient' in token ? 'session' : 'token',
      can: {
        create: tokenCan('create'),
        read: tokenCan('read'),
        update: tokenCan('update'),
        delete: tokenCan('delete'),
      },
    }
  })
  api.post('/session/ping', (ctx) => {
    ctx.body = { ok: true }
  })
  api.get('/posts/:id', abilities('read'), (ctx) => {
    const post = setup.posts.get(ctx.params.id ?? '')
    ctx.status = post ? 200 : 404
    ctx.body = post ?? { message: 'Not found.', code: 'not_found' }
  })
  api.post('/posts', abilities('create', 'read'), (ctx) => {
    ctx.status = 201
    ctx.body = { created: true }
  })
  api.put('/posts/:id', abilities('update'), async (ctx) => {
    const post = setup.posts.get(ctx.params.id ?? '')
    if (!post) {
      ctx.status = 404
      return
    }
    await ctx.state.auth.authorize(posts.update, post)
    ctx.body = { updated: true }
  })
  api.delete('/posts/:id', ability('delete', 'update'), (ctx) => {
    ctx.status = 204
  })
  // Everything but the open routes needs auth: the API's routes, then the token routes.
  // As behind a proxy that names the client: the address the audit trail records, the token routes' included.
  const signedIn = auth(setup.tokens, {
    session,
    user,
    clientAddress: (ctx) => ctx.get('x-real-ip') || undefined,
  })
  const tokenRoutes = apiTokenRoutes(setup.tokens)
  const bearerTokenRoutes = apiTokenRoutes(setup.tokens, {
    prefix: '/bearer/api-tokens',
    bearerAbility: 'create',
  })
  // Behind the body parser most Koa apps install: the rules hold for what it has read.
  const parsing = bodyParser()
  const parsedTokenRoutes = apiTokenRoutes(setup.tokens, { prefix: '/parsed/api-tokens' })
  const parsed = (ctx: Context, next: () => Promise<unknown>) =>
    ctx.path.startsWith('/parsed/') ? parsing(ctx, () => parsedTokenRoutes(ctx as never, next)) : next()
  app.use(async (ctx, next) => {
    // The open router's routes need no sign-in: it has answered them already.
    if (open.match(ctx.path, ctx.method).route) return next()
    return signedIn(ctx, () =>
      api.routes()(ctx as never, () =>
        tokenRoutes(ctx as never, () =>
          bearerTokenRoutes(ctx as never, () => parsed(ctx as unknown as Context, next)),
        ),
      ),
    )
  })
  return app
}

/** Starts the scenario app on an ephemeral 127.0.0.1 port. */
export async function startScenarioApp(setup: ScenarioSetup): Promise<RunningApp> {
  const server = scenarioApp(setup).listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  }
}
