import { createSetup, type Permission, type User } from '@jetstream/http-scenarios'
import type { AccessToken, Auth } from '@jetstream/tokens'
import express from 'express'
import { describe, expectTypeOf, it } from 'vitest'
import { abilities, ability, auth, authOf } from './index.js'

// The app's user and permissions are registered once (in @jetstream/http-scenarios, as an app would), so these
// are the README's own lines, without type arguments.
const { tokens, userForToken: findUser } = createSetup()

describe('Express: the typed request', () => {
  it('types authOf(req) with the app’s user, not User | null, and req.auth as maybe a guest', () => {
    const app = express()
    app.use(auth(tokens, { user: (token) => findUser(token.owner.id) }))
    app.get('/posts', abilities('read'), (req, res) => {
      expectTypeOf(req.auth).toEqualTypeOf<Auth<User | null, Permission> | undefined>()
      expectTypeOf(authOf(req)).toEqualTypeOf<Auth<User, Permission>>()
      expectTypeOf(authOf(req).user).toEqualTypeOf<User>()
      expectTypeOf(authOf(req).token).toEqualTypeOf<AccessToken<Permission>>()
      authOf(req).tokenCan('create')
      // @ts-expect-error 'raed' is not a defined permission
      authOf(req).tokenCan('raed')
      res.end()
    })
  })

  it('refuses an undefined permission in abilities(...) and ability(...)', () => {
    const app = express()
    // @ts-expect-error 'raed' is not a defined permission
    app.get('/a', abilities('raed'), (_req, res) => res.end())
    // @ts-expect-error 'raed' is not a defined permission
    app.get('/b', ability('read', 'raed'), (_req, res) => res.end())
    app.get('/c', abilities('read', 'update'), ability('delete'), (_req, res) => res.end())
  })
})
