import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import {
  limitedRoute,
  type Post,
  posts,
  type RunningApp,
  type ScenarioSetup,
  sharedLimitedRoute,
  thrownError,
} from '@jetstream/http-scenarios'
import { Hono } from 'hono'
import { getCookie } from 'hono/cookie'
import { type AuthEnv, abilities, ability, apiTokenRoutes, auth, errorHandler } from '../index.js'

/** The scenario app, as a Hono user would write it. */
export function scenarioApp(setup: ScenarioSetup): Hono<AuthEnv> {
  const session = (c: Parameters<typeof getCookie>[0]) =>
    setup.sessionUser(`session=${getCookie(c, 'session') ?? ''}`)
  const user = (token: { owner: { id: string } }) => setup.userForToken(token.owner.id)
  const app = new Hono<AuthEnv>()
  app.onError(errorHandler({ realm: 'app', report: (error) => void setup.reported.push(error) }))
  // Errors thrown where no `auth` runs: the app's error handler answers them.
  app.get('/thrown/:kind', (c) => {
    throw thrownError(c.req.param('kind'))
  })
  // The app failing behind `auth`: answered and reported as outside it.
  app.get('/failing', auth(setup.tokens, { session, user }), () => {
    throw thrownError('bug')
  })
  // The token routes for a signed-in user without an `id` (and no `owner`): a setup that fails only once a request
  // runs, answered 500 and reported.
  app.use('/nameless/api-tokens', auth(setup.tokens, { session: () => ({ name: 'No id' }), user }))
  app.route('/', apiTokenRoutes(setup.tokens, { prefix: '/nameless/api-tokens' }))
  // A check mounted without `auth` before it: the app's mistake, answered 500 and reported.
  app.get('/misused', abilities('read'), (c) => c.json({ ok: true }))

  app.get('/maybe', auth(setup.tokens, { session, user, required: false }), (c) =>
    c.json({ user: c.var.auth.user }),
  )
  // Below optional auth: a policy asked about a guest, and an error the app throws itself.
  app.get('/maybe/authorize', auth(setup.tokens, { session, user, required: false }), async (c) => {
    await c.var.auth.authorize(posts.view, setup.posts.get('10') as Post)
    return c.json({ ok: true })
  })
  app.get('/maybe/thrown/:kind', auth(setup.tokens, { session, user, required: false }), (c) => {
    throw thrownError(c.req.param('kind'))
  })
  app.get('/custom/me', auth(setup.tokens, { user, token: 'x-api-token' }), (c) =>
    c.json({ user: c.var.auth.user }),
  )
  app.get('/acme/me', auth(setup.tokens, { session, user, realm: 'acme' }), abilities('delete'), (c) =>
    c.json({ ok: true }),
  )
  for (const [group, rateLimit] of [
    ['limited', limitedRoute],
    ['shared', sharedLimitedRoute],
  ] as const) {
    app.get(`/${group}/me`, auth(setup.tokens, { session, user, rateLimit }), (c) =>
      c.json({ user: c.var.auth.user }),
    )
    app.post(`/${group}/posts`, auth(setup.tokens, { session, user, rateLimit }), abilities('create'), (c) =>
      c.json({ created: true }, 201),
    )
    // The same `auth` mounted twice on one route (say, on the app and again on the route).
    const once = auth(setup.tokens, { session, user, rateLimit })
    app.get(`/${group}/twice`, once, once, (c) => c.json({ user: c.var.auth.user }))
  }

  const api = new Hono<AuthEnv>()
  // As behind a proxy that names the client: the address the audit trail records, the token routes' included.
  api.use(auth(setup.tokens, { session, user, clientAddress: (c) => c.req.header('x-real-ip') }))
  api.get('/me', (c) => {
    const { user: me, token, tokenCan } = c.var.auth
    return c.json({
      user: me,
      via: 'transient' in token ? 'session' : 'token',
      can: {
        create: tokenCan('create'),
        read: tokenCan('read'),
        update: tokenCan('update'),
        delete: tokenCan('delete'),
      },
    })
  })
  api.post('/session/ping', (c) => c.json({ ok: true }))
  api.get('/posts/:id', abilities('read'), (c) => {
    const post = setup.posts.get(c.req.param('id'))
    return post ? c.json(post) : c.json({ message: 'Not found.', code: 'not_found' }, 404)
  })
  api.post('/posts', abilities('create', 'read'), (c) => c.json({ created: true }, 201))
  api.put('/posts/:id', abilities('update'), async (c) => {
    const post = setup.posts.get(c.req.param('id'))
    if (!post) return c.json({ message: 'Not found.', code: 'not_found' }, 404)
    await c.var.auth.authorize(posts.update, post)
    return c.json({ updated: true })
  })
  api.delete('/posts/:id', ability('delete', 'update'), (c) => c.body(null, 204))
  api.route('/', apiTokenRoutes(setup.tokens))
  api.route('/', apiTokenRoutes(setup.tokens, { prefix: '/bearer/api-tokens', bearerAbility: 'create' }))
  // Behind a middleware of the app's that read the body first (a validator, say): the rules hold for it too.
  api.use('/parsed/api-tokens/*', async (c, next) => {
    await c.req.arrayBuffer()
    await next()
  })
  api.route('/', apiTokenRoutes(setup.tokens, { prefix: '/parsed/api-tokens' }))
  app.route('/', api)
  return app
}

/** Starts the scenario app on an ephemeral 127.0.0.1 port. */
export async function startScenarioApp(setup: ScenarioSetup): Promise<RunningApp> {
  const app = scenarioApp(setup)
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) =>
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      }),
    )
  })
}
