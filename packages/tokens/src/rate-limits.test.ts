import { RateLimiterMemory } from 'rate-limiter-flexible'
import { describe, expect, it } from 'vitest'
import { abilityCheck } from './ability-checks.js'
import { type Auth, createAuth } from './auth.js'
import { MisconfigurationError, StorageUnavailableError, TooManyRequestsError } from './errors.js'
import { errorAnswer } from './http-answer.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import {
  type Limiter,
  type LimiterFactory,
  type LimiterState,
  type RateLimitOptions,
  RateLimits,
} from './rate-limits.js'
import { RequestGuard } from './request-guard.js'
import { bareAdapter } from './test-support/bare-request.js'
import { createTokens } from './token-service.js'
import { TransientToken } from './transient-token.js'

const quiet = () => {}

/** A limiter whose backend is down: every call fails as rate-limiter-flexible's store limiters do. */
const broken: Limiter = {
  consume: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')),
  get: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:6379')),
}

describe('RateLimits', () => {
  it('lets `limit` requests of a key through per window, then refuses with the policy and the wait', async () => {
    const limits = new RateLimits({ limit: 2, window: 30 }, quiet)
    expect(await limits.spend('token', '7')).toBeNull()
    expect(await limits.spend('token', '7')).toBeNull()
    const refusal = await limits.spend('token', '7')
    expect(refusal).toBeInstanceOf(TooManyRequestsError)
    expect(refusal).toMatchObject({ status: 429, policy: 'token', limit: 2, window: 30 })
    expect((refusal as TooManyRequestsError).retryAfter).toBeGreaterThanOrEqual(29)
    expect((refusal as TooManyRequestsError).retryAfter).toBeLessThanOrEqual(30)
    expect(await limits.spend('token', '8')).toBeNull()
    expect(await limits.spend('session', '7')).toBeNull()
  })

  it('answers at once from memory, and through a promise from a shared backend, with the same counts', async () => {
    const memory = new RateLimits({ limit: 1, window: 30 }, quiet)
    expect(memory.spend('token', '7')).toBeNull()
    expect(memory.spend('token', '7')).toBeInstanceOf(TooManyRequestsError)
    expect(memory.blocked('203.0.113.7')).toBeNull()
    expect(memory.failed('203.0.113.7')).toBeUndefined()
    const shared = new RateLimits(
      { limit: 1, window: 30, backend: (options) => new RateLimiterMemory(options) },
      quiet,
    )
    const first = shared.spend('token', '7')
    expect(first).toBeInstanceOf(Promise)
    expect(await first).toBeNull()
    expect(await shared.spend('token', '7')).toMatchObject({ policy: 'token', limit: 1, window: 30 })
  })

  it('gives abilities allowances of their own, per token, and refuses names that are no ability', async () => {
    const limits = new RateLimits(
      { limit: 100, window: 60, abilities: { create: { limit: 1, window: 30 } } },
      quiet,
      undefined,
      (name) => name === 'create' || name === 'read',
    )
    expect(limits.hasAbilityLimits).toBe(true)
    expect(limits.spendAbilities(['read', 'create'], '7')).toBeNull()
    expect(limits.spendAbilities(['read'], '7')).toBeNull()
    const refusal = limits.spendAbilities(['create'], '7')
    expect(refusal).toMatchObject({ status: 429, policy: 'ability:create', limit: 1, window: 30 })
    expect(errorAnswer(refusal).headers['ratelimit-policy']).toBe('"ability:create";q=1;w=30')
    expect(limits.spendAbilities(['create'], '8')).toBeNull()
    expect(new RateLimits({ limit: 1, window: 1 }, quiet).hasAbilityLimits).toBe(false)
    const known = (name: string) => name === 'read'
    expect(
      () =>
        new RateLimits(
          { limit: 1, window: 1, abilities: { raed: { limit: 1, window: 1 } } },
          quiet,
          undefined,
          known,
        ),
    ).toThrow(MisconfigurationError)
    expect(
      () =>
        new RateLimits(
          { limit: 1, window: 1, abilities: { read: { limit: 0, window: 1 } } },
          quiet,
          undefined,
          known,
        ),
    ).toThrow(/abilities\['read'\]`\.limit/)
    expect(() =>
      createTokens({
        store: new MemoryTokenStore(),
        permissions: new PermissionRegistry({ permissions: ['read'] }),
        // @ts-expect-error: `raed` is no permission of this registry
        rateLimit: { limit: 1, window: 1, abilities: { raed: { limit: 1, window: 1 } } },
      }),
    ).toThrow(/`raed`, which is no ability/)
  })

  it('blocks an address once it has spent its refused authentications, and not before', async () => {
    const limits = new RateLimits({ limit: 100, window: 60, failures: { limit: 2, window: 60 } }, quiet)
    expect(await limits.blocked('203.0.113.7')).toBeNull()
    await limits.failed('203.0.113.7')
    expect(await limits.blocked('203.0.113.7')).toBeNull()
    await limits.failed('203.0.113.7')
    expect(await limits.blocked('203.0.113.7')).toMatchObject({ policy: 'failures', limit: 2, window: 60 })
    expect(await limits.blocked('198.51.100.1')).toBeNull()
    const none = new RateLimits({ limit: 1, window: 1, failures: false }, quiet)
    for (let i = 0; i < 5; i++) await none.failed('203.0.113.7')
    expect(await none.blocked('203.0.113.7')).toBeNull()
  })

  it('fails open by default when its backend fails, and closed when asked; the error is reported', async () => {
    const errors: unknown[] = []
    const backend = () => broken
    const open = new RateLimits({ limit: 1, window: 1, backend }, (error) => errors.push(error))
    expect(await open.spend('token', '7')).toBeNull()
    expect(await open.blocked('203.0.113.7')).toBeNull()
    await open.failed('203.0.113.7')
    expect(errors).toHaveLength(3)
    const closed = new RateLimits({ limit: 1, window: 1, backend, whenUnavailable: 'refuse' }, quiet)
    expect(await closed.spend('token', '7')).toBeInstanceOf(StorageUnavailableError)
    expect(await closed.blocked('203.0.113.7')).toBeInstanceOf(StorageUnavailableError)
  })

  it('counts a backend that does not answer within `timeout` as failing, and a late answer changes nothing', async () => {
    const errors: unknown[] = []
    let answer: (state: LimiterState) => void = () => {}
    const waiting: Limiter = {
      consume: () => new Promise((resolve) => (answer = resolve)),
      get: () => new Promise(() => {}),
    }
    const backend = () => waiting
    const open = new RateLimits({ limit: 1, window: 60, backend, timeout: 30 }, (error) => errors.push(error))
    expect(await open.spend('token', '7')).toBeNull()
    expect(await open.blocked('203.0.113.7')).toBeNull()
    await open.failed('203.0.113.7')
    expect(errors).toHaveLength(3)
    expect(String(errors[0])).toContain('The rate limiter did not answer within 30 ms.')
    answer({ msBeforeNext: 1_000, remainingPoints: 0, consumedPoints: 1 })
    const closed = new RateLimits(
      { limit: 1, window: 60, backend, timeout: 30, whenUnavailable: 'refuse' },
      quiet,
    )
    expect(await closed.spend('token', '7')).toBeInstanceOf(StorageUnavailableError)
    expect(await closed.blocked('203.0.113.7')).toBeInstanceOf(StorageUnavailableError)
  })

  it('passes a backend’s answers within `timeout` through as they are', async () => {
    const backend = (options: { points: number; duration: number; keyPrefix: string }) =>
      new RateLimiterMemory(options)
    const limits = new RateLimits({ limit: 1, window: 60, backend, timeout: 1_000 }, quiet)
    expect(await limits.spend('token', '7')).toBeNull()
    expect(await limits.spend('token', '7')).toBeInstanceOf(TooManyRequestsError)
  })

  it.each([
    { limit: 0, window: 60 },
    { limit: 1.5, window: 60 },
    { limit: 10, window: 0 },
    { limit: 10, window: 60, failures: { limit: -1, window: 60 } },
    { limit: 10, window: 60, whenUnavailable: 'maybe' },
    { limit: 10, window: 60, backend: 'redis' },
    { limit: 10, window: 60, timeout: 0 },
    { limit: 10, window: 60, timeout: '1s' },
    { limit: 10, window: 2_147_484 },
    { limit: 10, window: 60, failures: { limit: 5, window: 30 * 86_400 } },
    { limit: 10, window: 60, abilities: { create: { limit: 1, window: 30 * 86_400 } } },
  ])('refuses the misconfiguration %o', (options) => {
    expect(() => new RateLimits(options as unknown as RateLimitOptions, quiet)).toThrow(MisconfigurationError)
  })

  it('counts over the longest window a memory counter keeps (24 days), and leaves longer ones to a backend', async () => {
    const limits = new RateLimits({ limit: 1, window: 2_147_483 }, quiet)
    expect(await limits.spend('token', '7')).toBeNull()
    expect(await limits.spend('token', '7')).toBeInstanceOf(TooManyRequestsError)
    const backend = (options: { points: number; duration: number; keyPrefix: string }) =>
      new RateLimiterMemory({ ...options, duration: 60 })
    expect(() => new RateLimits({ limit: 1, window: 30 * 86_400, backend }, quiet)).not.toThrow()
  })
})

describe('the 429 answer', () => {
  it('carries Retry-After and the IETF RateLimit and RateLimit-Policy headers', () => {
    const answer = errorAnswer(
      new TooManyRequestsError({ policy: 'token', limit: 60, window: 60, retryAfter: 12.2 }),
    )
    expect(answer.status).toBe(429)
    expect(answer.headers).toMatchObject({
      'retry-after': '13',
      ratelimit: '"token";r=0;t=13',
      'ratelimit-policy': '"token";q=60;w=60',
    })
    expect(JSON.parse(answer.body)).toEqual({
      message: 'Too many requests: wait before trying again.',
      code: 'too_many_requests',
    })
  })
})

describe('the request guard with rate limits', () => {
  const adapter = bareAdapter
  const user = { id: '42' }

  function setup(rateLimit: RateLimitOptions) {
    const store = new MemoryTokenStore()
    let lookups = 0
    const findById = store.findById.bind(store)
    store.findById = (id) => {
      lookups++
      return findById(id)
    }
    const tokens = createTokens({ store, rateLimit, lastUsed: false })
    return { tokens, lookups: () => lookups }
  }

  it('limits by the service’s rateLimit, per token, through the guard', async () => {
    const { tokens } = setup({ limit: 1, window: 60 })
    const guard = new RequestGuard(tokens, { user: () => user }, adapter)
    const { plainTextToken } = await tokens.create('42', 'limited', ['read'])
    const request = { headers: { authorization: `Bearer ${plainTextToken}` } }
    expect(await guard.resolve(request)).toMatchObject({ user })
    expect(await guard.resolve(request)).toMatchObject({ status: 429 })
    const unlimited = new RequestGuard(tokens, { user: () => user, rateLimit: false }, adapter)
    expect(await unlimited.resolve(request)).toMatchObject({ user })
  })

  it('reports a route group’s own backend failing to the service’s error hook, and fails open or closed', async () => {
    const reported: unknown[] = []
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      lastUsed: false,
      on: { error: (error) => void reported.push(error) },
    })
    const { plainTextToken } = await tokens.create('42', 'limited', ['read'])
    const request = { headers: { authorization: `Bearer ${plainTextToken}` } }
    const open = new RequestGuard(
      tokens,
      { user: () => user, rateLimit: { limit: 1, window: 60, backend: () => broken } },
      adapter,
    )
    expect(await open.resolve(request)).toMatchObject({ user })
    expect(reported).toEqual([new Error('connect ECONNREFUSED 127.0.0.1:6379')])
    const closed = new RequestGuard(
      tokens,
      {
        user: () => user,
        rateLimit: { limit: 1, window: 60, backend: () => broken, whenUnavailable: 'refuse' },
      },
      adapter,
    )
    expect(await closed.resolve(request)).toMatchObject({ status: 503 })
    expect(reported).toHaveLength(2)
  })

  it('keeps a request that needs no promise free of one: the memory backend answers at once', async () => {
    const { tokens } = setup({ limit: 1, window: 60 })
    const guard = new RequestGuard(tokens, { user: () => user }, adapter)
    const { plainTextToken } = await tokens.create('42', 'limited', ['read'])
    const request = { headers: { authorization: `Bearer ${plainTextToken}` }, address: '203.0.113.7' }
    const first = guard.resolve(request)
    expect(first).not.toBeInstanceOf(Promise)
    expect(first).toMatchObject({ user })
    expect(guard.resolve(request)).toMatchObject({ status: 429 })
    const malformed = guard.resolve({ headers: { authorization: 'Bearer nonsense' }, address: '203.0.113.7' })
    expect(malformed).not.toBeInstanceOf(Promise)
    expect(malformed).toMatchObject({ status: 401 })
  })

  it('stops an address that keeps failing before the store is asked; counts nothing without an address', async () => {
    const { tokens, lookups } = setup({ limit: 100, window: 60, failures: { limit: 2, window: 60 } })
    const guard = new RequestGuard(tokens, { user: () => user }, adapter)
    // Well formed (its checksum holds) but unknown here: only the store can refuse it.
    const elsewhere = createTokens({ store: new MemoryTokenStore(), lastUsed: false })
    const wrong = (await elsewhere.create('42', 'elsewhere')).plainTextToken
    for (let i = 0; i < 5; i++) await guard.resolve({ headers: { authorization: `Bearer ${wrong}` } })
    await guard.resolve({ headers: { authorization: 'Bearer nope' }, address: '203.0.113.7' })
    await guard.resolve({ headers: { authorization: 'Bearer nope' }, address: '203.0.113.7' })
    const before = lookups()
    const blocked = await guard.resolve({
      headers: { authorization: `Bearer ${wrong}` },
      address: '203.0.113.7',
    })
    expect(blocked).toMatchObject({ status: 429 })
    expect(lookups()).toBe(before)
    const byOption = new RequestGuard(
      tokens,
      { user: () => user, clientAddress: () => '203.0.113.7' },
      adapter,
    )
    expect(await byOption.resolve({ headers: { authorization: `Bearer ${wrong}` } })).toMatchObject({
      status: 429,
    })
  })

  it('has ability checks spend the guard’s ability limits: at once from memory, through a promise from Redis and the like', async () => {
    const abilityLimits = { create: { limit: 1, window: 60 } }
    const create = abilityCheck('all', ['create'])
    const either = abilityCheck('any', ['create', 'read'])
    for (const backend of [
      undefined,
      (options: Parameters<LimiterFactory>[0]) => new RateLimiterMemory(options),
    ]) {
      const tokens = createTokens({ store: new MemoryTokenStore(), lastUsed: false })
      const guard = new RequestGuard(
        tokens,
        {
          user: () => user,
          rateLimit: { limit: 100, window: 60, abilities: abilityLimits, ...(backend && { backend }) },
        },
        adapter,
      )
      const { plainTextToken } = await tokens.create('42', 'writer', ['read', 'create'])
      const reader = (await tokens.create('42', 'reader', ['read'])).plainTextToken
      const auth = (await guard.resolve({ headers: { authorization: `Bearer ${plainTextToken}` } })) as Auth<
        unknown,
        string
      >
      const first = create(auth)
      expect(first instanceof Promise).toBe(backend !== undefined)
      expect(await first).toBeNull()
      expect(await create(auth)).toMatchObject({ status: 429 })
      // `ability(…)` spends for the listed abilities the token holds: `create` here, already spent.
      expect(await either(auth)).toMatchObject({ status: 429 })
      const readerAuth = (await guard.resolve({ headers: { authorization: `Bearer ${reader}` } })) as Auth<
        unknown,
        string
      >
      expect(await either(readerAuth)).toBeNull()
      expect(await create(readerAuth)).toMatchObject({ status: 403 })
      // The app's own session is counted by `limit` alone.
      expect(await create(createAuth(user, new TransientToken()))).toBeNull()
    }
  })

  it('tells the service’s telemetry which limit refused', async () => {
    const policies: string[] = []
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      rateLimit: { limit: 1, window: 60 },
      lastUsed: false,
      telemetry: {
        authentication: () => {},
        action: () => {},
        flush: () => {},
        rateLimited: ({ policy }) => void policies.push(policy),
      },
    })
    const guard = new RequestGuard(tokens, { user: () => user }, adapter)
    const { plainTextToken } = await tokens.create('42', 'limited', ['read'])
    const request = { headers: { authorization: `Bearer ${plainTextToken}` } }
    await guard.resolve(request)
    await guard.resolve(request)
    const grouped = new RequestGuard(
      tokens,
      { user: () => user, rateLimit: { limit: 1, window: 60 } },
      adapter,
    )
    await grouped.resolve(request)
    await grouped.resolve(request)
    expect(policies).toEqual(['token', 'token'])
  })
})
