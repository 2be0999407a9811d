import type { AddressInfo } from 'node:net'
import {
  type Permission,
  posts,
  type RunningApp,
  type ScenarioSetup,
  type User,
} from '@jetstream/http-scenarios'
import { Router } from '@koa/router'
import Koa, { type Context } from 'koa'
import { type AuthState, abilities, ability, apiTokenRoutes, auth } from '../index.js'

/** The scenario app, as a Koa user would write it. */
export function scenarioApp(setup: ScenarioSetup): Koa<AuthState<User, Permission>> {
  const session = (ctx: Context) => setup.sessionUser(`session=${ctx.cookies.get('session') ?? ''}`)
  const user = (token: { owner: { id: string } }) => setup.userForToken(token.owner.id)
  const app = new Koa<AuthState<User, Permission>>()

  const open = new Router<AuthState<User, Permission>>()
  open.get('/maybe', auth(setup.tokens, { session, user, required: false }), (ctx) => {
    ctx.body = { user: ctx.state.auth.user }
  })
  open.get('/custom/me', auth(setup.tokens, { user, token: 'x-api-token' }), (ctx) => {
    ctx.body = { user: ctx.state.auth.user }
  })
  app.use(open.routes())

  const api = new Router<AuthState<User, Permission>>()
  api.use(auth(setup.tokens, { session, user }))
  api.get('/me', (ctx) => {
    const { user: me, token, tokenCan } = ctx.state.auth
    ctx.body = {
      user: me,
      via: token && 'transient' in token ? 'session' : 'token',
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
  const tokenRoutes = apiTokenRoutes<User, Permission>(setup.tokens)
  api.use(tokenRoutes.routes(), tokenRoutes.allowedMethods())
  // Everything below the open routes needs auth; mount the protected router only for its own paths.
  app.use(async (ctx, next) => {
    if (ctx.path === '/maybe' || ctx.path === '/custom/me') return next()
    return api.routes()(ctx as never, next)
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
