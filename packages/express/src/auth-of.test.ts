import type { AddressInfo } from 'node:net'
import { createTokens, MemoryTokenStore } from '@jetstream/tokens'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth, authOf, errorHandler } from './index.js'

// `authOf` promises a user; behind an `auth` that lets guests through, a guest gets the 401 a required `auth`
// would have answered, not a null user and a TypeError (a 500).
describe('authOf behind an auth that lets guests through', () => {
  let server: ReturnType<ReturnType<typeof express>['listen']>
  let url: string
  beforeAll(async () => {
    const tokens = createTokens({ store: new MemoryTokenStore(), lastUsed: false })
    const app = express()
    app.get('/me', auth(tokens, { user: () => null, required: false, realm: 'acme' }), (req, res) => {
      res.json({ id: authOf<{ id: string }>(req).user.id })
    })
    app.use(errorHandler({ report: () => {} }))
    server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }, 10_000)
  afterAll(() => new Promise<void>((done) => server.close(() => done())), 10_000)

  it('answers a guest 401 in the guard’s realm, and a refused token as refused', async () => {
    const guest = await fetch(`${url}/me`)
    expect(guest.status).toBe(401)
    expect(guest.headers.get('www-authenticate')).toBe('Bearer realm="acme"')
    expect((await guest.json()).code).toBe('unauthenticated')
    const refused = await fetch(`${url}/me`, { headers: { authorization: 'Bearer 1|nope' } })
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer realm="acme", error="invalid_token"/)
  })
})
