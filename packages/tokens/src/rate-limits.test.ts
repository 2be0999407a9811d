import { RateLimiterMemory } from 'rate-limiter-flexible'
import { describe, expect, it } from 'vitest'
import { abilityCheck } from './ability-checks.js'
import { type Auth, createAuth } from './auth.js'
import { crc32Hex } from './crc32.js'
import {
  MisconfigurationError,
  MissingAbilitiesError,
  StorageUnavailableError,
  TooManyRequestsError,
  UnauthenticatedError,
} from './errors.js'
import { errorAnswer } from './http-answer.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import {
  addressKey,
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

/** One backend's counters, shared by every limiter built on it, by key (prefix included), as Redis keeps them. */
function sharedBackend(): LimiterFactory {
  const counts = new Map<string, number>()
  const state = (points: number, duration: number, spent: number): LimiterState => ({
    msBeforeNext: duration * 1000,
    remainingPoints: Math.max(0, points - spent),
    consumedPoints: spent,
  })
  return ({ keyPrefix, points, duration }) => ({
    consume: async (key) => {
      const spent = (counts.get(`${keyPrefix}:${key}`) ?? 0) + 1
      counts.set(`${keyPrefix}:${key}`, spent)
      if (spent > points) throw state(points, duration, spent)
      return state(points, duration, spent)
    },
    get: async (key) => {
      const spent = counts.get(`${keyPrefix}:${key}`)
      return spent === undefined ? null : state(points, duration, spent)
    },
  })
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

  it('counts one client however its address is written: IPv4-mapped, upper case, or anywhere in its /64', async () => {
    const limits = new RateLimits({ limit: 100, window: 60, failures: { limit: 3, window: 60 } }, quiet)
    await limits.failed('::ffff:203.0.113.7')
    await limits.failed('203.0.113.7')
    await limits.failed('::FFFF:203.0.113.7')
    expect(await limits.blocked('203.0.113.7')).toMatchObject({ policy: 'failures' })
    for (const address of ['2001:db8::1', '2001:DB8:0:0::2', '2001:db8:0:0:ffff:1:2:3'])
      await limits.failed(address)
    expect(await limits.blocked('2001:0db8:0000:0000:abcd::9')).toMatchObject({ policy: 'failures' })
    expect(await limits.blocked('2001:db8:0:1::1')).toBeNull()
    expect(addressKey('::ffff:c633:6401')).toBe('198.51.100.1')
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64')
    expect(addressKey('[2001:DB8::1]:443')).toBe('2001:db8:0:0::/64')
    // IPv4 clients behind a translator each keep their own count, not one for the translator's /64.
    expect(addressKey('64:ff9b::203.0.113.7')).toBe('203.0.113.7')
    expect(addressKey('64:ff9b::cb00:7108')).toBe('203.0.113.8')
    expect(addressKey('::ffff:0:203.0.113.9')).toBe('203.0.113.9')
    expect(addressKey('::203.0.113.10')).toBe('203.0.113.10')
    // What is no address (a name from `clientAddress`, a malformed one) counts as it is, case and all.
    expect(addressKey('Client-7')).toBe('Client-7')
    expect(addressKey('abc%def')).toBe('abc%def')
    expect(addressKey('1::2::3')).toBe('1::2::3')
    expect(addressKey('1::a1.2.3.4')).toBe('1::a1.2.3.4')
  })

  it('counts apart under different names on one shared backend', async () => {
    const backend = sharedBackend()
    const service = new RateLimits({ limit: 1, window: 60, backend }, quiet)
    const strict = new RateLimits({ limit: 5, window: 3600, backend, name: 'strict' }, quiet)
    expect(await service.spend('token', '7')).toBeNull()
    expect(await strict.spend('token', '7')).toBeNull()
    expect(await service.spend('token', '7')).toMatchObject({ policy: 'token', limit: 1 })
    expect(await strict.spend('token', '7')).toBeNull()
    // Unnamed, a second set of limits counts on the first one's keys.
    const unnamed = new RateLimits({ limit: 5, window: 3600, backend }, quiet)
    expect(await unnamed.spend('token', '7')).toBeNull()
    expect(await service.spend('token', '7')).toMatchObject({ policy: 'token' })
  })

  it('takes a backend’s rejection for a spent limit only when it carries the limiter’s state', async () => {
    const errors: unknown[] = []
    const odd: Limiter = { consume: () => Promise.reject('ECONNRESET'), get: () => Promise.reject(undefined) }
    const open = new RateLimits({ limit: 1, window: 60, backend: () => odd }, (error) => errors.push(error))
    expect(await open.spend('token', '7')).toBeNull()
    expect(await open.blocked('203.0.113.7')).toBeNull()
    await open.failed('203.0.113.7')
    expect(errors).toEqual(['ECONNRESET', undefined, 'ECONNRESET'])
    const closed = new RateLimits(
      { limit: 1, window: 60, backend: () => odd, whenUnavailable: 'refuse' },
      quiet,
    )
    expect(await closed.spend('token', '7')).toBeInstanceOf(StorageUnavailableError)
  })

  it('refuses, when it is built, options that would limit nothing or the wrong thing', () => {
    const base = { limit: 1, window: 60 }
    const refused = (options: unknown) => () => new RateLimits(options as RateLimitOptions, quiet)
    // A timer past 2^31 - 1 ms fires at once: every call would time out.
    expect(refused({ ...base, timeout: 2 ** 31, backend: sharedBackend() })).toThrow(/at most 2147483647/)
    // A factory that returns nothing, or a promise of a limiter.
    expect(refused({ ...base, backend: () => undefined })).toThrow(MisconfigurationError)
    expect(
      refused({ ...base, backend: async () => new RateLimiterMemory({ points: 1, duration: 60 }) }),
    ).toThrow(/not a promise/)
    // Misspelt options would leave their defaults in place.
    expect(refused({ ...base, whenUnavaliable: 'refuse' })).toThrow(/no option `whenUnavaliable`/)
    expect(refused({ ...base, name: 'with space' })).toThrow(/`rateLimit.name`/)
    expect(refused({ ...base, name: 'a:b' })).toThrow(MisconfigurationError)
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

describe('answers naming abilities, realms and policies that are not ASCII', () => {
  it('writes every header in printable ASCII, percent-encoding the rest, so no framework refuses it', () => {
    const answers = [
      errorAnswer(new MissingAbilitiesError(['投稿', 'créer', 'say"hi"', 'a%E6'], { realm: 'ação' })),
      errorAnswer(new UnauthenticatedError({ tokenRejected: true, realm: 'ação' })),
      errorAnswer(new TooManyRequestsError({ policy: 'ability:投稿', limit: 1, window: 60, retryAfter: 5 })),
    ]
    for (const answer of answers) {
      for (const value of Object.values(answer.headers)) expect(value).toMatch(/^[\x20-\x7e]*$/)
    }
    expect(answers[0]?.headers['www-authenticate']).toBe(
      'Bearer realm="a%C3%A7%C3%A3o", error="insufficient_scope", scope="%E6%8A%95%E7%A8%BF cr%C3%A9er say\\"hi\\" a%25E6"',
    )
    expect(answers[2]?.headers['ratelimit-policy']).toBe('"ability:%E6%8A%95%E7%A8%BF";q=1;w=60')
    // The body keeps the names as they are.
    expect(JSON.parse(answers[0]?.body ?? '{}').abilities).toEqual(['投稿', 'créer', 'say"hi"', 'a%E6'])
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

  it('refuses a route group’s own limits on a shared backend without a name, which would count on the service’s', () => {
    const { tokens } = setup({ limit: 1, window: 60 })
    const group = (rateLimit: RateLimitOptions) => () =>
      new RequestGuard(tokens, { user: () => user, rateLimit }, adapter)
    expect(group({ limit: 5, window: 60, backend: sharedBackend() })).toThrow(/needs a `name`/)
    expect(group({ limit: 5, window: 60, backend: sharedBackend(), name: 'uploads' })).not.toThrow()
    expect(group({ limit: 5, window: 60 })).not.toThrow()
  })

  it('limits a session user whose id is an object that writes itself as text (a MongoDB ObjectId)', async () => {
    const { tokens } = setup({ limit: 1, window: 60 })
    const objectId = { toString: () => '507f1f77bcf86cd799439011' }
    const guard = new RequestGuard(tokens, { session: () => ({ id: objectId }), user: () => null }, adapter)
    expect(await guard.resolve({ headers: {} })).toMatchObject({ user: { id: objectId } })
    expect(await guard.resolve({ headers: {} })).toMatchObject({ status: 429 })
    // An id that cannot be written as text is no key: not limited, and no failure of the request.
    const bare = new RequestGuard(
      tokens,
      { session: () => ({ id: Object.create(null) }), user: () => null },
      adapter,
    )
    expect(await bare.resolve({ headers: {} })).toHaveProperty('user')
    expect(await bare.resolve({ headers: {} })).toHaveProperty('user')
  })

  it('serves a session user without an id unlimited, and tells the error hook so once', async () => {
    const errors: unknown[] = []
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      rateLimit: { limit: 1, window: 60 },
      lastUsed: false,
      on: { error: (error) => void errors.push(error) },
    })
    const guard = new RequestGuard(
      tokens,
      { session: () => ({ email: 'ada@example.com' }), user: () => null },
      adapter,
    )
    for (let i = 0; i < 3; i++) expect(await guard.resolve({ headers: {} })).toHaveProperty('user')
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(MisconfigurationError)
    expect((errors[0] as Error).message).toMatch(/has no `id`, so the `session` rate limit/)
    // Without a limit there is nothing the missing id escapes, and nothing to say.
    const unlimited = new RequestGuard(
      tokens,
      { session: () => ({}), user: () => null, rateLimit: false },
      adapter,
    )
    await unlimited.resolve({ headers: {} })
    expect(errors).toHaveLength(1)
  })

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
      { user: () => user, rateLimit: { limit: 1, window: 60, backend: () => broken, name: 'open' } },
      adapter,
    )
    expect(await open.resolve(request)).toMatchObject({ user })
    expect(reported).toEqual([new Error('connect ECONNREFUSED 127.0.0.1:6379')])
    const closed = new RequestGuard(
      tokens,
      {
        user: () => user,
        rateLimit: { limit: 1, window: 60, backend: () => broken, whenUnavailable: 'refuse', name: 'closed' },
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

  it('answers a blocked address the same 429 whether a token’s id is cached or not; a cached token still passes', async () => {
    const store = new MemoryTokenStore()
    const tokens = createTokens({
      store,
      cache: true,
      lastUsed: false,
      rateLimit: { limit: 100, window: 60, failures: { limit: 2, window: 60 } },
    })
    const guard = new RequestGuard(tokens, { user: () => user, clientAddress: () => '203.0.113.7' }, adapter)
    const cached = await tokens.create('42', 'cached', ['read'])
    const stored = await tokens.create('42', 'not cached', ['read'])
    const bearer = (plainText: string) => ({ headers: { authorization: `Bearer ${plainText}` } })
    expect(await guard.resolve(bearer(cached.plainTextToken))).toMatchObject({ user })
    for (let i = 0; i < 2; i++) await guard.resolve(bearer('nope'))
    // Well formed, its checksum right, the secret not the token's.
    const entropy = 'x'.repeat(40)
    const guess = (id: string) => `${id}|${entropy}${crc32Hex(entropy)}`
    const answers = [guess(cached.token.id), guess(stored.token.id), 'nope']
    for (const plainText of answers) {
      expect(await guard.resolve(bearer(plainText)), plainText).toMatchObject({
        status: 429,
        headers: { 'ratelimit-policy': expect.stringContaining('"failures"') },
      })
    }
    expect(await guard.resolve(bearer(cached.plainTextToken))).toMatchObject({ user })
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
          rateLimit: {
            limit: 100,
            window: 60,
            abilities: abilityLimits,
            ...(backend && { backend, name: 'abilities' }),
          },
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
