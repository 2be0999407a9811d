// One of two server processes sharing their rate limits through Redis (rate-limit-redis.test.ts): three requests
// a minute per session user, two refused tokens a minute per client address. It tells its parent its port.
import { serve } from '@hono/node-server'
import { createTokens, MemoryTokenStore } from '@jetstream/tokens'
import { Hono } from 'hono'
import { Redis } from 'ioredis'
import { RateLimiterRedis } from 'rate-limiter-flexible'
import { auth } from '../../dist/index.js'

const redis = new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 })
const prefix = process.env.LIMIT_PREFIX
const tokens = createTokens({
  store: new MemoryTokenStore(),
  rateLimit: {
    limit: 3,
    window: 60,
    failures: { limit: 2, window: 60 },
    backend: (options) =>
      new RateLimiterRedis({ storeClient: redis, ...options, keyPrefix: `${prefix}${options.keyPrefix}` }),
  },
})
const app = new Hono()
const session = (c) => (c.req.header('cookie') === 'session=1' ? { id: '1' } : null)
app.get('/me', auth(tokens, { session, user: () => null }), (c) => c.json({ ok: true }))
const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.send?.({ port: info.port })
})
process.on('disconnect', () => {
  server.close()
  redis.disconnect()
})
