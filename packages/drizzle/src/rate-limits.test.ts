import { createTokens, type RateLimitOptions, type TokenService } from '@jetstream/tokens'
import { type GuardAdapter, HttpAnswer, RequestGuard } from '@jetstream/tokens/adapter'
import { RateLimiterDrizzle } from 'rate-limiter-flexible'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { tokenRateLimits } from './schema.js'
import { localAndServer, type TestDatabase } from './test-support/databases.js'

/** A request as these tests make it: headers by lower-case name, always a GET. */
interface Request {
  readonly headers: Readonly<Record<string, string>>
}
const adapter: GuardAdapter<Request> = {
  method: () => 'GET',
  header: (request, name) => request.headers[name],
}

/*
 * Rate limits shared by instances through PostgreSQL: rate-limiter-flexible's RateLimiterDrizzle on the
 * `token_rate_limits` table that `migrate()` creates. Two token services on one database stand for two instances.
 */
describe.each(localAndServer())('rate limits counted in %s (RateLimiterDrizzle)', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
  })
  afterAll(() => database.close())

  const instance = (): TokenService<string> => {
    const rateLimit: RateLimitOptions = {
      limit: 3,
      window: 60,
      // The hourly sweep of expired rows is left to the app's own schedule here.
      backend: (options) =>
        new RateLimiterDrizzle({
          storeClient: database.db,
          schema: tokenRateLimits,
          clearExpiredByTimeout: false,
          ...options,
        }),
    }
    return createTokens({ store: drizzleStore(database.db), rateLimit, lastUsed: false })
  }
  const status = async (service: TokenService<string>, plainText: string) => {
    const guard = new RequestGuard(service, { user: (token) => ({ id: token.owner.id }) }, adapter)
    const resolved = await guard.resolve({ headers: { authorization: `Bearer ${plainText}` } })
    return resolved instanceof HttpAnswer
      ? { status: resolved.status, policy: resolved.headers['ratelimit-policy'] }
      : { status: 200 }
  }

  it('counts one token’s requests on either instance against one limit, in one row', async () => {
    const [a, b] = [instance(), instance()]
    const { token, plainTextToken } = await a.create('42', 'limited')
    expect(await status(a, plainTextToken)).toEqual({ status: 200 })
    expect(await status(b, plainTextToken)).toEqual({ status: 200 })
    expect(await status(a, plainTextToken)).toEqual({ status: 200 })
    expect(await status(b, plainTextToken)).toEqual({ status: 429, policy: '"token";q=3;w=60' })
    const counted = await database.db.select().from(tokenRateLimits)
    expect(counted).toEqual([
      { key: expect.stringMatching(new RegExp(`:${token.id}$`)), points: 4, expire: expect.any(Date) },
    ])
    // Nothing secret is counted: the key is a policy's prefix and the token's id.
    expect(JSON.stringify(counted)).not.toContain(plainTextToken.split('|')[1])
    await Promise.all([a.close(), b.close()])
  })
})
