import type { AddressInfo } from 'node:net'
import {
  limitedRoute,
  type Post,
  posts,
  type RunningApp,
  type ScenarioSetup,
  sharedLimitedRoute,
  thrownError,
} from '@jetstream/http-scenarios'
import express, { type Express, type Request } from 'express'
import { abilities, ability, apiTokenRoutes, auth, authOf, errorHandler } from '../index.js'

/** The scenario app, as an Express user would write it. */
export function scenarioApp(setup: ScenarioSetup): Express {
  const session = (req: Request) => setup.sessionUser(req.get('cookie'))
  const user = (token: { owner: { id: string } }) => setup.userForToken(token.owner.id)
  const app = express()
  // As behind a proxy that names the client: the address the audit trail records, the token routes' included.
  const signedIn = auth(setup.tokens, { session, user, clientAddress: (req) => req.get('x-real-ip') })

  // The token routes for a signed-in user without an `id` (and no `owner`): a setup that fails only once a request
  // runs, answered 500 and reported.
  app.use('/nameless/api-tokens', auth(setup.tokens, { session: () => ({ name: 'No id' }), user }))
  app.use(apiTokenRoutes(setup.tokens, { prefix: '/nameless/api-tokens' }))
  // Errors thrown where no `auth` runs: the app's error handler answers them.
  app.get('/thrown/:kind', (req) => {
    throw thrownError(String(req.params.kind))
  })
  // The app failing behind `auth`: answered and reported as outside it.
  app.get('/failing', auth(setup.tokens, { session, user }), () => {
    throw thrownError('bug')
  })
  // A check mounted without `auth` before it: the app's mistake, answered 500 and reported.
  app.get('/misused', abilities('read'), (_req, res) => {
    res.json({ ok: true })
  })
  app.get('/maybe', auth(setup.tokens, { session, user, required: false }), (req, res) => {
    res.json({ user: req.auth?.user ?? null })
  })
  // Below optional auth: a policy asked about a guest, and an error the app throws itself.
  app.get('/maybe/authorize', auth(setup.tokens, { session, user, required: false }), async (req, res) => {
    // `req.auth`, not `authOf(req)`, which would refuse the guest before the policy is asked.
    await (req.auth as NonNullable<typeof req.auth>).authorize(posts.view, setup.posts.get('10') as Post)
    res.json({ ok: true })
  })
  app.get('/maybe/thrown/:kind', auth(setup.tokens, { session, user, required: false }), (req) => {
    throw thrownError(String(req.params.kind))
  })
  app.get('/custom/me', auth(setup.tokens, { user, token: 'x-api-token' }), (req, res) => {
    res.json({ user: req.auth?.user ?? null })
  })
  app.get(
    '/acme/me',
    auth(setup.tokens, { session, user, realm: 'acme' }),
    abilities('delete'),
    (_req, res) => {
      res.json({ ok: true })
    },
  )
  for (const [group, rateLimit] of [
    ['limited', limitedRoute],
    ['shared', sharedLimitedRoute],
  ] as const) {
    app.get(`/${group}/me`, auth(setup.tokens, { session, user, rateLimit }), (req, res) => {
      res.json({ user: req.auth?.user ?? null })
    })
    app.post(
      `/${group}/posts`,
      auth(setup.tokens, { session, user, rateLimit }),
      abilities('create'),
      (_req, res) => {
        res.status(201).json({ created: true })
      },
    )
    // The same `auth` mounted twice on one route (say, on the app and again on the route).
    const once = auth(setup.tokens, { session, user, rateLimit })
    app.get(`/${group}/twice`, once, once, (req, res) => {
      res.json({ user: req.auth?.user ?? null })
    })
  }
  app.get('/me', signedIn, (req, res) => {
    const { user: me, token, tokenCan } = authOf(req)
    res.json({
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
  app.post('/session/ping', signedIn, (_req, res) => {
    res.json({ ok: true })
  })
  app.get('/posts/:id', signedIn, abilities('read'), (req, res) => {
    const post = setup.posts.get(String(req.params.id))
    if (post) res.json(post)
    else res.status(404).json({ message: 'Not found.', code: 'not_found' })
  })
  app.post('/posts', signedIn, abilities('create', 'read'), (_req, res) => {
    res.status(201).json({ created: true })
  })
  app.put('/posts/:id', signedIn, abilities('update'), async (req, res) => {
    const post = setup.posts.get(String(req.params.id))
    if (!post) {
      res.status(404).end()
      return
    }
    await authOf(req).authorize(posts.update, post)
    res.json({ updated: true })
  })
  app.delete('/posts/:id', signedIn, ability('delete', 'update'), (_req, res) => {
    res.status(204).end()
  })
  app.use('/user/api-tokens', signedIn)
  app.use(apiTokenRoutes(setup.tokens))
  app.use('/bearer/api-tokens', signedIn)
  app.use(apiTokenRoutes(setup.tokens, { prefix: '/bearer/api-tokens', bearerAbility: 'create' }))
  // Behind the body parsers most Express apps install globally: the rules hold for what they have read.
  app.use('/parsed/api-tokens', express.json(), express.urlencoded({ extended: false }), signedIn)
  app.use(apiTokenRoutes(setup.tokens, { prefix: '/parsed/api-tokens' }))
  app.use(errorHandler({ realm: 'app', report: (error) => void setup.reported.push(error) }))
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
