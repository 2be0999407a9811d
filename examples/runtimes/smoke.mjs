// The core and the Hono adapter on this runtime (Node, Bun or Deno), through real HTTP served by the runtime's own
// server, on the memory store and on the drizzle store over PGlite: issue, authenticate, refuse a tampered token,
// hash as another language does (known sha256 and HMAC digests),
// answer a missing ability with 403, rate limits (429), and the management routes (first-party only). Built packages are imported
// as a consumer would. Prints one line per case, the runtime's version, and closes with "<runtime>: N passed, N
// failed".
import assert from 'node:assert/strict'
import { PGlite } from '@electric-sql/pglite'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import { abilities, apiTokenRoutes, auth } from '@jetstream/hono'
import { createTokens, MemoryTokenStore, PermissionRegistry } from '@jetstream/tokens'
import { drizzle } from 'drizzle-orm/pglite'
import { Hono } from 'hono'

const runtime = globalThis.Bun ? 'bun' : globalThis.Deno ? 'deno' : 'node'
const version = globalThis.Bun ? Bun.version : globalThis.Deno ? Deno.version.deno : process.versions.node
const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})
const ada = { id: '1', name: 'Ada' }

function appFor(tokens) {
  const app = new Hono()
  app.use(
    '*',
    auth(tokens, {
      session: (c) => (c.req.header('cookie') === 'session=1' ? ada : null),
      user: (token) => (token.owner.id === ada.id ? ada : null),
    }),
  )
  app.get('/posts', abilities('read'), (c) => c.json({ posts: [], user: c.var.auth.user.name }))
  app.put('/posts/1', abilities('update'), (c) => c.json({ updated: true }))
  app.route('/', apiTokenRoutes(tokens))
  return app
}

// The runtime's own HTTP server on a free port.
async function serve(app) {
  if (globalThis.Bun) {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: app.fetch })
    return { url: `http://127.0.0.1:${server.port}`, close: () => server.stop(true) }
  }
  if (globalThis.Deno) {
    const server = Deno.serve({ port: 0, hostname: '127.0.0.1', onListen() {} }, app.fetch)
    return { url: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() }
  }
  const { serve: nodeServe } = await import('@hono/node-server')
  return new Promise((resolve) => {
    const server = nodeServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise((done) => server.close(done)),
      }),
    )
  })
}

const cases = []
const test = (name, run) => cases.push({ name, run })

async function suite(storeName, openStore) {
  const { store, close } = await openStore()
  const tokens = createTokens({ store, permissions, lastUsed: false })
  const server = await serve(appFor(tokens))
  const { url } = server
  const session = { cookie: 'session=1', origin: url, 'content-type': 'application/json' }
  const bearer = (token) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' })
  const reader = (await tokens.create('1', 'reader', ['read'])).plainTextToken
  test(`${storeName}: a token authenticates and reads`, async () => {
    const answer = await fetch(`${url}/posts`, { headers: bearer(reader) })
    assert.equal(answer.status, 200)
    assert.deepEqual(await answer.json(), { posts: [], user: 'Ada' })
  })
  test(`${storeName}: a tampered token is refused with 401 invalid_token`, async () => {
    const tampered = `${reader.slice(0, -9)}${reader.at(-9) === 'a' ? 'b' : 'a'}${reader.slice(-8)}`
    const answer = await fetch(`${url}/posts`, { headers: bearer(tampered) })
    assert.equal(answer.status, 401)
    assert.match(answer.headers.get('www-authenticate'), /error="invalid_token"/)
  })
  test(`${storeName}: a missing ability is a 403 naming it`, async () => {
    const answer = await fetch(`${url}/posts/1`, { method: 'PUT', headers: bearer(reader), body: '{}' })
    assert.equal(answer.status, 403)
    assert.deepEqual((await answer.json()).abilities, ['update'])
  })
  test(`${storeName}: the session manages tokens; a bearer token may not`, async () => {
    const created = await fetch(`${url}/user/api-tokens`, {
      method: 'POST',
      headers: session,
      body: JSON.stringify({ name: 'from the page', permissions: ['read', 'update'] }),
    })
    assert.equal(created.status, 201)
    const { token, plainTextToken } = await created.json()
    assert.equal(
      (await fetch(`${url}/posts/1`, { method: 'PUT', headers: bearer(plainTextToken), body: '{}' })).status,
      200,
    )
    const listed = await (await fetch(`${url}/user/api-tokens`, { headers: session })).json()
    assert.ok(listed.tokens.some((t) => t.id === token.id))
    const refused = await fetch(`${url}/user/api-tokens`, { headers: bearer(plainTextToken) })
    assert.equal(refused.status, 403)
    assert.equal((await refused.json()).code, 'session_required')
    assert.equal(
      (await fetch(`${url}/user/api-tokens/${token.id}`, { method: 'DELETE', headers: session })).status,
      204,
    )
    assert.equal((await fetch(`${url}/posts`, { headers: bearer(plainTextToken) })).status, 401)
  })
  test(`${storeName}: a token past its rate limit is a 429 with RateLimit headers`, async () => {
    const limited = new Hono()
    limited.use('*', auth(tokens, { user: () => ada, rateLimit: { limit: 1, window: 60 } }))
    limited.get('/limited', (c) => c.json({ ok: true }))
    const limitedServer = await serve(limited)
    try {
      const headers = bearer(reader)
      assert.equal((await fetch(`${limitedServer.url}/limited`, { headers })).status, 200)
      const refused = await fetch(`${limitedServer.url}/limited`, { headers })
      assert.equal(refused.status, 429)
      assert.equal(refused.headers.get('ratelimit-policy'), '"token";q=1;w=60')
    } finally {
      await limitedServer.close()
    }
  })
  test(`${storeName}: a body over the limit is a 413`, async () => {
    const answer = await fetch(`${url}/user/api-tokens`, {
      method: 'POST',
      headers: session,
      body: 'x'.repeat(200_000),
    })
    assert.equal(answer.status, 413)
  })
  return async () => {
    await server.close()
    await close()
  }
}

// A secret whose digests were computed outside JavaScript (Python's hashlib and hmac): a runtime whose sha256 or
// HMAC differed would fail here, where a token made and checked on the same runtime could not.
const KNOWN_SECRET = 'Vsuy9LNI8hsd7uipkgE1QYI0dOEOmMBTvmSA6aLCb2bfc239'
const KNOWN_KEY = 'a-server-side-key-of-at-least-32-characters'
const KNOWN_DIGESTS = [
  [undefined, '519b96db702e33dc53306d4f50d640fc91b8eb3cab26af1ef5c3d16752980d82'],
  [KNOWN_KEY, '129308f56508c6ce82804ee1c10f765ac1ada53e941fb1dddf8249217e121683'],
]
test('a secret hashes to the digests Python computes: sha256, and HMAC-SHA256 under a hash key', async () => {
  for (const [hashKey, tokenHash] of KNOWN_DIGESTS) {
    const store = new MemoryTokenStore()
    const now = new Date()
    const record = await store.insert({
      owner: { type: 'user', id: '1' },
      name: 'known',
      abilities: ['read'],
      tokenHash,
      expiresAt: null,
      createdAt: now,
      updatedAt: now,
    })
    const tokens = createTokens({ store, permissions, lastUsed: false, ...(hashKey && { hashKey }) })
    const found = await tokens.authenticate(`${record.id}|${KNOWN_SECRET}`)
    assert.equal(found?.name, 'known', hashKey ? 'HMAC-SHA256' : 'sha256')
  }
})

const closers = [
  await suite('memory store', async () => ({ store: new MemoryTokenStore(), close: async () => {} })),
  await suite('drizzle store on PGlite', async () => {
    const client = new PGlite()
    const db = drizzle(client)
    await migrate(db)
    return { store: drizzleStore(db), close: () => client.close() }
  }),
]
let passed = 0
let failed = 0
for (const { name, run } of cases) {
  try {
    await run()
    passed++
    console.log(`  ok   ${name}`)
  } catch (error) {
    failed++
    console.log(`  FAIL ${name}: ${error?.stack ?? error}`)
  }
}
for (const close of closers) await close()
console.log(`${runtime} ${version}`)
console.log(`${runtime}: ${passed} passed, ${failed} failed`)
if (typeof process !== 'undefined') process.exitCode = failed === 0 ? 0 : 1
