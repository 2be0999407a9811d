import { describe, expect, it } from 'vitest'
import { MisconfigurationError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { type AuthenticationFailure, createTokens, type TokenServiceOptions } from './token-service.js'

const start = Date.parse('2026-06-01T12:00:00Z')
const minutes = (n: number) => n * 60_000

function setup(options: Partial<TokenServiceOptions> = {}) {
  const clock = { now: start }
  const failures: AuthenticationFailure[] = []
  const tokens = createTokens({
    store: new MemoryTokenStore(),
    idleTimeout: 10,
    lastUsed: { interval: 60_000, flushDelay: 1_000 },
    now: () => new Date(clock.now),
    on: { failed: ({ reason }) => failures.push(reason) },
    ...options,
  })
  return { clock, failures, tokens }
}

describe('idleTimeout', () => {
  it('refuses a token never used since its creation, with the reason idle, after the timeout and the slack', async () => {
    const { tokens, clock, failures } = setup()
    const { plainTextToken } = await tokens.create('42', 'idle')
    // 10 minutes, plus one interval and one flush delay that another instance's write may lag behind.
    clock.now += minutes(10) + 60_000 + 1_000 - 1
    const { plainTextToken: other } = await tokens.create('42', 'other')
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    clock.now += minutes(12)
    expect(await tokens.authenticate(plainTextToken)).toBeNull()
    expect(failures).toEqual(['idle'])
    expect(await tokens.authenticate(other)).toBeNull()
    await tokens.close()
  })

  it('counts a use this instance has not written yet', async () => {
    const { tokens, clock } = setup({ lastUsed: { interval: 60_000, flushDelay: 3_600_000 } })
    const { plainTextToken } = await tokens.create('42', 'busy')
    for (let i = 0; i < 6; i++) {
      clock.now += minutes(9)
      expect(await tokens.authenticate(plainTextToken), `use ${i}`).not.toBeNull()
    }
    await tokens.close()
  })

  it('shows an idle token as expired to the management routes', async () => {
    const { tokens, clock } = setup()
    await tokens.create('42', 'idle')
    clock.now += minutes(20)
    const [token] = await tokens.list('42')
    expect(token && tokens.hasExpired(token)).toBe(true)
    await tokens.close()
  })

  it('reads a cached token again before calling it idle: uses written since are only in the store', async () => {
    const clock = { now: start }
    const store = new MemoryTokenStore()
    const instance = (cache: boolean) =>
      createTokens({
        store,
        idleTimeout: 10,
        cache: cache && { ttl: 3_600_000 },
        now: () => new Date(clock.now),
      })
    const [a, b] = [instance(false), instance(true)]
    const { plainTextToken } = await a.create('42', 'busy')
    expect(await b.authenticate(plainTextToken)).not.toBeNull()
    // From here the token is used through the other instance only, which writes its uses.
    for (let i = 0; i < 2; i++) {
      clock.now += minutes(5)
      expect(await a.authenticate(plainTextToken)).not.toBeNull()
    }
    await a.close()
    clock.now += minutes(7)
    expect(await b.authenticate(plainTextToken)).not.toBeNull()
    clock.now += minutes(12)
    expect(await b.authenticate(plainTextToken)).toBeNull()
    await b.close()
  })

  it('needs lastUsed tracking and a positive number of minutes', () => {
    const store = new MemoryTokenStore()
    expect(() => createTokens({ store, idleTimeout: 10, lastUsed: false })).toThrow(MisconfigurationError)
    for (const idleTimeout of [0, -1, Number.NaN]) {
      expect(() => createTokens({ store, idleTimeout })).toThrow(MisconfigurationError)
    }
  })
})
