import { describe, expect, it } from 'vitest'
import type { AccessToken } from './auth.js'
import { InvalidInputError, MisconfigurationError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { createTokens } from './token-service.js'
import { TransientToken } from './transient-token.js'

describe('token metadata', () => {
  it('is stored with the token, returned by every read, and cannot be changed through the token', async () => {
    const tokens = createTokens({ store: new MemoryTokenStore(), lastUsed: false })
    const given = { environment: 'ci', limits: { daily: 100 } }
    const { token, plainTextToken } = await tokens.create('42', 'tagged', ['read'], { metadata: given })
    given.limits.daily = 1
    expect(token.metadata).toEqual({ environment: 'ci', limits: { daily: 100 } })
    const found = await tokens.authenticate(plainTextToken)
    expect(found?.metadata).toEqual({ environment: 'ci', limits: { daily: 100 } })
    expect(() => {
      ;(found?.metadata?.limits as { daily: number }).daily = 5
    }).toThrow(TypeError)
    expect((await tokens.list('42'))[0]?.metadata).toEqual({ environment: 'ci', limits: { daily: 100 } })
    expect((await tokens.create('42', 'plain')).token.metadata).toBeNull()
  })

  it('is readable from any request token: a session has none', async () => {
    const tokens = createTokens({ store: new MemoryTokenStore(), lastUsed: false })
    const { plainTextToken } = await tokens.create('42', 'tagged', ['read'], { metadata: { team: 'ops' } })
    const fromTeam = (token: AccessToken) => token.metadata?.team === 'ops'
    expect(fromTeam((await tokens.authenticate(plainTextToken)) as AccessToken)).toBe(true)
    expect(fromTeam(new TransientToken())).toBe(false)
  })

  it('is a JSON object within the limit (4096 bytes of JSON by default, counted in UTF-8)', async () => {
    const tokens = createTokens({ store: new MemoryTokenStore(), lastUsed: false })
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    for (const metadata of [
      [1],
      'text',
      42,
      { big: 'x'.repeat(4_096) },
      { big: 'é'.repeat(2_045) },
      // Objects JSON cannot write.
      cyclic,
      { count: 1n },
      // What PostgreSQL's json refuses, in a value or a key, however deep.
      { nul: 'a\0b' },
      { 'a\0': 1 },
      { nested: { list: ['\ud800'] } },
      { '\udfff': true },
    ]) {
      const refused = await tokens.create('42', 'x', ['*'], { metadata: metadata as never }).catch((e) => e)
      expect(refused, String(Object.keys(metadata))).toBeInstanceOf(InvalidInputError)
      expect(refused.errors.metadata).toHaveLength(1)
    }
    // A surrogate pair is one character, and fine.
    const { token } = await tokens.create('42', 'x', ['*'], { metadata: { '🔑': 'ok\n🔑' } })
    expect(token.metadata).toEqual({ '🔑': 'ok\n🔑' })
    const small = createTokens({ store: new MemoryTokenStore(), lastUsed: false, metadataLimit: 16 })
    await expect(small.create('42', 'x', ['*'], { metadata: { a: 'b' } })).resolves.toBeTruthy()
    await expect(small.create('42', 'x', ['*'], { metadata: { a: 'bbbbbbbbbbbbb' } })).rejects.toBeInstanceOf(
      InvalidInputError,
    )
    expect(() => createTokens({ store: new MemoryTokenStore(), metadataLimit: 0 })).toThrow(
      MisconfigurationError,
    )
  })
})
