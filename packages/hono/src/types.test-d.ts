import { createSetup, type Permission, type User } from '@jetstream/http-scenarios'
import type { AccessToken, Auth } from '@jetstream/tokens'
import { Hono } from 'hono'
import { describe, expectTypeOf, it } from 'vitest'
import { type AuthEnv, type AuthOptions, abilities, ability, auth } from './index.js'

// The app's user and permissions are registered once (in @jetstream/http-scenarios, as an app would), so these
// are the README's own lines, without type arguments.
const { tokens, userForToken: findUser } = createSetup()

describe('Hono: the typed context', () => {
  it('types c.var.auth with the app’s user, not User | null, behind a required auth', () => {
    const app = new Hono<AuthEnv>()
    app.use('*', auth(tokens, { user: (token) => findUser(token.owner.id) }))
    app.get('/posts', abilities('read'), (c) => {
      expectTypeOf(c.var.auth).toEqualTypeOf<Auth<User, Permission>>()
      expectTypeOf(c.var.auth.user).toEqualTypeOf<User>()
      expectTypeOf(c.var.auth.token).toEqualTypeOf<AccessToken<Permission>>()
      c.var.auth.tokenCan('update')
      // @ts-expect-error 'raed' is not a defined permission
      c.var.auth.tokenCan('raed')
      return c.text('ok')
    })
  })

  it('types an optional auth as User | null', () => {
    const optional = auth(tokens, { user: (token) => findUser(token.owner.id), required: false })
    expectTypeOf(optional).toEqualTypeOf<import('hono').MiddlewareHandler<AuthEnv<User | null, Permission>>>()
    // Options kept in a variable of their own type, as its JSDoc shows: whether it is required is not known.
    const options: AuthOptions<User> = { user: (token) => findUser(token.owner.id) }
    expectTypeOf(auth(tokens, options)).toEqualTypeOf<
      import('hono').MiddlewareHandler<AuthEnv<User | null, Permission>>
    >()
    const app = new Hono<AuthEnv<User | null>>()
    app.get('/maybe', optional, (c) => {
      expectTypeOf(c.var.auth.user).toEqualTypeOf<User | null>()
      expectTypeOf(c.var.auth.token).toEqualTypeOf<AccessToken<Permission> | null>()
      return c.text('ok')
    })
  })

  it('refuses an undefined permission in abilities(...) and ability(...)', () => {
    const app = new Hono<AuthEnv>()
    // @ts-expect-error 'raed' is not a defined permission
    app.get('/a', abilities('raed'), (c) => c.text('ok'))
    // @ts-expect-error 'raed' is not a defined permission
    app.get('/b', ability('read', 'raed'), (c) => c.text('ok'))
    app.get('/c', abilities('read', 'update'), ability('delete'), (c) => c.text('ok'))
  })
})
