import { type Permission, permissions, type User } from '@jetstream/http-scenarios'
import { createTokens, MemoryTokenStore, type RequestAuth } from '@jetstream/tokens'
import { Hono } from 'hono'
import { describe, expectTypeOf, it } from 'vitest'
import { type AuthEnv, abilities, auth } from './index.js'

describe('Hono: the typed context', () => {
  it('types c.var.auth with the user and the permission names', () => {
    const tokens = createTokens({ store: new MemoryTokenStore(), permissions })
    const app = new Hono<AuthEnv<User, Permission>>()
    app.get('/', auth(tokens, { user: () => null as User | null }), abilities('read'), (c) => {
      expectTypeOf(c.var.auth).toEqualTypeOf<RequestAuth<User, Permission>>()
      expectTypeOf(c.var.auth.user).toEqualTypeOf<User | null>()
      c.var.auth.tokenCan('update')
      // @ts-expect-error 'raed' is not a defined permission
      c.var.auth.tokenCan('raed')
      return c.text('ok')
    })
    // @ts-expect-error 'raed' is not a defined permission
    abilities<Permission>('raed')
  })
})
