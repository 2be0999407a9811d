import type { AddressInfo } from 'node:net'
import {
  type Permission,
  posts,
  type RunningApp,
  type ScenarioSetup,
  type User,
} from '@jetstream/http-scenarios'
import express, { type Express, type Request } from 'express'
import { abilities, ability, apiTokenRoutes, auth, authOf, errorHandler } from '../index.js'

/** The scenario app, as an Express user would write it. */
export function scenarioApp(setup: ScenarioSetup): Express {
  const session = (req: Request) => setup.sessionUser(req.get('cookie'))
  const user = (token: { owner: { id: string } }) => setup.userForToken(token.owner.id)
  const app = express()
  const signedIn = auth(setup.tokens, { session, user })

  app.get('/maybe', auth(setup.tokens, { session, user, required: false }), (req, res) => {
    res.json({ user: authOf<User, Permission>(req).user })
  })
  app.get('/custom/me', auth(setup.tokens, { user, token: 'x-api-token' }), (req, res) => {
    res.json({ user: authOf<User, Permission>(req).user })
  })
  app.get('/me', signedIn, (req, res) => {
    const { user: me, token, tokenCan } = authOf<User, Permission>(req)
    res.json({
      user: me,
      via: token && 'transient' in token ? 'session' : 'token',
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
  app.get('/posts/:id', signedIn, abilities<Permission>('read'), (req, res) => {
    const post = setup.posts.get(String(req.params.id))
    if (post) res.json(post)
    else res.status(404).json({ message: 'Not found.', code: 'not_found' })
  })
  app.post('/posts', signedIn, abilities<Permission>('create', 'read'), (_req, res) => {
    res.status(201).json({ created: true })
  })
  app.put('/posts/:id', signedIn, abilities<Permission>('update'), async (req, res) => {
    const post = setup.posts.get(String(req.params.id))
    if (!post) {
      res.status(404).end()
      return
    }
    await authOf<User, Permission>(req).authorize(posts.update, post)
    res.json({ updated: true })
  })
  app.delete('/posts/:id', signedIn, ability<Permission>('delete', 'update'), (_req, res) => {
    res.status(204).end()
  })
  app.use('/user/api-tokens', signedIn)
  app.use(apiTokenRoutes<User, Permission>(setup.tokens))
  app.use(errorHandler())
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
