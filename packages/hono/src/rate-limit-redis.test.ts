import { type ChildProcess, fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createTokens, MemoryTokenStore, type RateLimitOptions } from '@jetstream/tokens'
import { Hono } from 'hono'
import { Redis } from 'ioredis'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { auth } from './index.js'

// Rate limits kept in the real Redis, shared by two server processes. Without Redis these are skipped with one
// line, except in CI, where a missing Redis fails the run.
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `test:rate-limits:${process.pid}:${randomBytes(6).toString('hex')}:`

async function redisAnswers(): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0 })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}
const hasRedis = await redisAnswers()
if (!hasRedis && process.env.CI)
  throw new Error(`CI must test rate limits on Redis: nothing answers at ${url}.`)
if (!hasRedis) console.warn(`skipped: rate limits on Redis (nothing answers at ${url})`)

describe.runIf(hasRedis)('rate limits shared through Redis by two server processes', () => {
  const servers: { process: ChildProcess; url: string }[] = []
  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const child = fork(new URL('./test-support/limited-server.mjs', import.meta.url), {
        env: { ...process.env, REDIS_URL: url, LIMIT_PREFIX: prefix },
      })
      const [message] = (await once(child, 'message')) as [{ port: number }]
      servers.push({ process: child, url: `http://127.0.0.1:${message.port}` })
    }
  }, 30_000)
  afterAll(async () => {
    for (const server of servers) server.process.disconnect()
    const redis = new Redis(url)
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  }, 30_000)

  const get = async (server: number, headers: Record<string, string>) => {
    const response = await fetch(`${servers[server]?.url}/me`, { headers })
    return {
      status: response.status,
      policy: response.headers.get('ratelimit-policy'),
      body: await response.text(),
    }
  }

  it('counts a session user’s requests on either server against one limit', async () => {
    const session = { cookie: 'session=1' }
    expect((await get(0, session)).status).toBe(200)
    expect((await get(1, session)).status).toBe(200)
    expect((await get(0, session)).status).toBe(200)
    const refused = await get(1, session)
    expect(refused.status).toBe(429)
    expect(refused.policy).toBe('"session";q=3;w=60')
  })

  it('refuses on one server a client that failed on the other', async () => {
    for (const bad of ['1|nope', 'garbage'])
      expect((await get(0, { authorization: `Bearer ${bad}` })).status).toBe(401)
    // Well formed (its checksum holds), so only a store lookup could refuse it: the limit comes first.
    const unknown = (await createTokens({ store: new MemoryTokenStore() }).create('1', 'elsewhere'))
      .plainTextToken
    const blocked = await get(1, { authorization: `Bearer ${unknown}` })
    expect(blocked.status).toBe(429)
    expect(blocked.policy).toBe('"failures";q=2;w=60')
  })
})

describe.runIf(hasRedis)('when Redis is down', () => {
  // A client that answers nothing: no offline queue, so every command fails at once, as it does in an outage.
  let redis: Redis
  const errors: unknown[] = []
  let close = async () => {}
  let base = ''
  beforeAll(async () => {
    redis = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    redis.on('error', () => {})
    const app = new Hono()
    const session = (c: { req: { header(name: string): string | undefined } }) =>
      c.req.header('cookie') === 'session=1' ? { id: '1' } : null
    for (const whenUnavailable of ['allow', 'refuse'] as const) {
      const rateLimit: RateLimitOptions = {
        limit: 1,
        window: 60,
        whenUnavailable,
        backend: (options) => new RateLimiterRedis({ storeClient: redis, ...options }),
      }
      const tokens = createTokens({
        store: new MemoryTokenStore(),
        rateLimit,
        on: { error: (e) => errors.push(e) },
      })
      app.get(`/${whenUnavailable}`, auth(tokens, { session, user: () => null }), (c) => c.json({ ok: true }))
    }
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    close = () => new Promise((resolve) => server.close(() => resolve()))
  }, 30_000)
  afterAll(() => close())

  it('lets requests through by default (fail open), and reports the error', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await fetch(`${base}/allow`, { headers: { cookie: 'session=1' } })).status).toBe(200)
    }
    expect(errors.length).toBeGreaterThan(0)
  })

  it('answers 503 with whenUnavailable: refuse (fail closed)', async () => {
    const response = await fetch(`${base}/refuse`, { headers: { cookie: 'session=1' } })
    expect(response.status).toBe(503)
    expect(((await response.json()) as { code: string }).code).toBe('storage_unavailable')
  })
})

describe.runIf(hasRedis)('when Redis cannot be reached and the client waits for it', () => {
  // ioredis as most apps build it: its offline queue holds commands until it reconnects, for as long as it tries.
  let redis: Redis
  let close = async () => {}
  let base = ''
  const errors: unknown[] = []
  beforeAll(async () => {
    redis = new Redis({ port: 1, lazyConnect: true })
    redis.on('error', () => {})
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      rateLimit: {
        limit: 1,
        window: 60,
        timeout: 200,
        backend: (options) => new RateLimiterRedis({ storeClient: redis, ...options }),
      },
      on: { error: (e) => errors.push(e) },
    })
    const app = new Hono()
    const session = (c: { req: { header(name: string): string | undefined } }) =>
      c.req.header('cookie') === 'session=1' ? { id: '1' } : null
    app.get('/me', auth(tokens, { session, user: () => null }), (c) => c.json({ ok: true }))
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    close = () => new Promise((resolve) => server.close(() => resolve()))
  }, 30_000)
  afterAll(async () => {
    redis.disconnect()
    await close()
  })

  it('lets the request through once the limiter’s timeout has passed, rather than wait for Redis', async () => {
    const response = await fetch(`${base}/me`, { headers: { cookie: 'session=1' } })
    expect(response.status).toBe(200)
    expect(errors.map(String)).toEqual(['Error: The rate limiter did not answer within 200 ms.'])
  })
})
