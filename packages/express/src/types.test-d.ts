import { type Permission, permissions, type User } from '@jetstream/http-scenarios'
import { createTokens, MemoryTokenStore, type RequestAuth } from '@jetstream/tokens'
import express from 'express'
import { describe, expectTypeOf, it } from 'vitest'
import { type AuthRequest, abilities, auth, authOf } from './index.js'

describe('Express: the typed request', () => {
  it('types req.auth with the user and the permission names', () => {
    const tokens = createTokens({ store: new MemoryTokenStore(), permissions })
    const app = express()
    app.get(
      '/',
      auth(tokens, { user: () => null as User | null }),
      abilities<Permission>('read'),
      (req, res) => {
        expectTypeOf(req.auth).toEqualTypeOf<RequestAuth | undefined>()
        const { auth: typed } = req as unknown as AuthRequest<User, Permission>
        expectTypeOf(typed).toEqualTypeOf<RequestAuth<User, Permission>>()
        expectTypeOf(typed.user).toEqualTypeOf<User | null>()
        typed.tokenCan('create')
        // @ts-expect-error 'raed' is not a defined permission
        typed.tokenCan('raed')
        expectTypeOf(authOf<User, Permission>(req)).toEqualTypeOf<RequestAuth<User, Permission>>()
        // @ts-expect-error 'raed' is not a defined permission
        authOf<User, Permission>(req).tokenCan('raed')
        res.end()
      },
    )
    // @ts-expect-error 'raed' is not a defined permission
    abilities<Permission>('raed')
  })
})
