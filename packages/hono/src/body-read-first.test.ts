import type { AddressInfo } from 'node:net'
import { type ServerType, serve } from '@hono/node-server'
import { createTokens, MemoryTokenStore, PermissionRegistry } from '@jetstream/tokens'
import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type AuthEnv, apiTokenRoutes, auth } from './index.js'

// An app whose own middleware reads the JSON body before the token routes do, as Hono's `validator('json')` and
// zod-validator do: the routes must read it from Hono's body cache, on Node's stream and on a Fetch request alike.
// With `limited`, Hono's `bodyLimit` goes first: it reads a chunked body into a new Fetch request of its own, and
// asks for the Fetch body of any other.
function app(options: { limited?: boolean } = {}) {
  const permissions = new PermissionRegistry({ permissions: ['read', 'create'], defaults: ['read'] })
  const tokens = createTokens({ store: new MemoryTokenStore(), permissions })
  const seen: unknown[] = []
  const app = new Hono<AuthEnv>()
  if (options.limited) app.use('*', bodyLimit({ maxSize: 10_000 }))
  app.use('*', auth(tokens, { session: () => ({ id: '1' }), user: () => ({ id: '1' }) }))
  if (!options.limited) {
    app.post('/user/api-tokens', async (c, next) => {
      seen.push(await c.req.json())
      await next()
    })
  }
  app.route('/', apiTokenRoutes(tokens))
  return { app, seen }
}

const create = { name: 'CI', permissions: ['create'] }
const headers = { 'content-type': 'application/json', origin: 'http://localhost' }

describe('the token routes after a middleware that read the body', () => {
  it('create from the cached body on a Fetch request', async () => {
    const { app: fetchApp, seen } = app()
    const response = await fetchApp.request('http://localhost/user/api-tokens', {
      method: 'POST',
      // A runtime's Fetch request names its host; `app.request` sends only what it is given.
      headers: { ...headers, host: 'localhost' },
      body: JSON.stringify(create),
    })
    expect(response.status).toBe(201)
    expect((await response.json()).token.abilities).toEqual(['create'])
    expect(seen).toEqual([create])
  })

  describe('on Node (@hono/node-server)', () => {
    let server: ServerType
    let url: string
    const built = app()
    beforeAll(async () => {
      server = serve({ fetch: built.app.fetch, port: 0, hostname: '127.0.0.1' })
      await new Promise<void>((resolve) => server.once('listening', () => resolve()))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    }, 10_000)
    afterAll(() => new Promise<void>((done) => server.close(() => done())), 10_000)

    it('create from the cached body, not from the stream already read', async () => {
      const response = await fetch(`${url}/user/api-tokens`, {
        method: 'POST',
        headers: { ...headers, origin: url },
        body: JSON.stringify(create),
      })
      expect(response.status).toBe(201)
      expect((await response.json()).token.abilities).toEqual(['create'])
      expect(built.seen).toEqual([create])
    })
  })

  describe('on Node, behind Hono’s bodyLimit', () => {
    let server: ServerType
    let url: string
    beforeAll(async () => {
      server = serve({ fetch: app({ limited: true }).app.fetch, port: 0, hostname: '127.0.0.1' })
      await new Promise<void>((resolve) => server.once('listening', () => resolve()))
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    }, 10_000)
    afterAll(() => new Promise<void>((done) => server.close(() => done())), 10_000)

    const chunked = () =>
      new Blob([JSON.stringify(create)]).stream().pipeThrough(new TransformStream<Uint8Array, Uint8Array>())
    it.each([
      ['with a Content-Length', () => JSON.stringify(create)],
      ['chunked', chunked],
    ])('create from the body the limit read, %s', async (_, body) => {
      const response = await fetch(`${url}/user/api-tokens`, {
        method: 'POST',
        headers: { ...headers, origin: url },
        body: body(),
        duplex: 'half',
      } as RequestInit)
      expect(response.status).toBe(201)
      expect((await response.json()).token).toMatchObject({ name: 'CI', abilities: ['create'] })
    })
  })
})
