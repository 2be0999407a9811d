import { createSetup, type Permission, type User } from '@jetstream/http-scenarios'
import type { AccessToken, Auth } from '@jetstream/tokens'
import { Router } from '@koa/router'
import Koa, { type Middleware } from 'koa'
import { describe, expectTypeOf, it } from 'vitest'
import { type AuthOptions, type AuthState, abilities, ability, auth } from './index.js'

// The app's user and permissions are registered once (in @jetstream/http-scenarios, as an app would), so these
// are the README's own lines, without type arguments.
const { tokens, userForToken: findUser } = createSetup()

describe('Koa: the typed state', () => {
  it('types ctx.state.auth with the app’s user, not User | null, behind a required auth', () => {
    const app = new Koa()
    const router = new Router<AuthState>()
    app.use(auth(tokens, { user: (token) => findUser(token.owner.id) }))
    router.get('/posts', abilities('read'), (ctx) => {
      expectTypeOf(ctx.state.auth).toEqualTypeOf<Auth<User, Permission>>()
      expectTypeOf(ctx.state.auth.user).toEqualTypeOf<User>()
      expectTypeOf(ctx.state.auth.token).toEqualTypeOf<AccessToken<Permission>>()
      // @ts-expect-error 'raed' is not a defined permission
      ctx.state.auth.tokenCan('raed')
    })
  })

  it('types an optional auth as User | null', () => {
    const optional = auth(tokens, { user: (token) => findUser(token.owner.id), required: false })
    expectTypeOf(optional).toEqualTypeOf<Middleware<AuthState<User | null, Permission>>>()
    // Options kept in a variable of their own type, as its JSDoc shows: whether it is required is not known.
    const options: AuthOptions<User> = { user: (token) => findUser(token.owner.id) }
    expectTypeOf(auth(tokens, options)).toEqualTypeOf<Middleware<AuthState<User | null, Permission>>>()
  })

  it('refuses an undefined permission in abilities(...) and ability(...)', () => {
    const router = new Router<AuthState>()
    // @ts-expect-error 'raed' is not a defined permission
    router.get('/a', abilities('raed'), () => {})
    // @ts-expect-error 'raed' is not a defined permission
    router.get('/b', ability('read', 'raed'), () => {})
    router.get('/c', abilities('read', 'update'), ability('delete'), () => {})
  })
})
