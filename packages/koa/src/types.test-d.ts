import { type Permission, permissions, type User } from '@jetstream/http-scenarios'
import { createTokens, MemoryTokenStore, type RequestAuth } from '@jetstream/tokens'
import { Router } from '@koa/router'
import { describe, expectTypeOf, it } from 'vitest'
import { type AuthState, ability, auth } from './index.js'

describe('Koa: the typed state', () => {
  it('types ctx.state.auth with the user and the permission names', () => {
    const tokens = createTokens({ store: new MemoryTokenStore(), permissions })
    const router = new Router<AuthState<User, Permission>>()
    router.get('/', auth(tokens, { user: () => null as User | null }), ability('read'), (ctx) => {
      expectTypeOf(ctx.state.auth).toEqualTypeOf<RequestAuth<User, Permission>>()
      expectTypeOf(ctx.state.auth.user).toEqualTypeOf<User | null>()
      ctx.state.auth.tokenCan('delete')
      // @ts-expect-error 'raed' is not a defined permission
      ctx.state.auth.tokenCan('raed')
    })
  })
})
