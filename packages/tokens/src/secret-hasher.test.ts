import { describe, expect, it } from 'vitest'
import { MisconfigurationError, StorageUnavailableError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { hashSecret } from './plain-text-token.js'
import { SecretHasher } from './secret-hasher.js'
import { hmacSha256Hex, portableHmacSha256Hex } from './sha256.js'
import { createTokens } from './token-service.js'

const key = 'k'.repeat(32)

describe('SecretHasher', () => {
  it('is plain sha256 without a key, and HMAC-SHA256 under one', () => {
    expect(new SecretHasher({}).hash('secret')).toBe(hashSecret('secret'))
    // RFC 4231-style check against the portable implementation, and a known vector.
    expect(hmacSha256Hex(key, 'secret')).toBe(portableHmacSha256Hex(key, 'secret'))
    expect(portableHmacSha256Hex('key', 'The quick brown fox jumps over the lazy dog')).toBe(
      'f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8',
    )
    expect(new SecretHasher({ hashKey: key }).hash('secret')).toBe(hmacSha256Hex(key, 'secret'))
  })

  it('refuses short or malformed keys', () => {
    expect(() => new SecretHasher({ hashKey: 'short' })).toThrow(MisconfigurationError)
    expect(() => new SecretHasher({ hashKey: key, previousHashKeys: ['short'] })).toThrow(
      MisconfigurationError,
    )
    expect(() => new SecretHasher({ previousHashKeys: 'x' as never })).toThrow(MisconfigurationError)
  })

  it('gives the hashes under the previous keys, null standing for plain sha256', () => {
    const old = 'o'.repeat(32)
    const hasher = new SecretHasher({ hashKey: key, previousHashKeys: [old, null] })
    expect(hasher.previousHashes('s')).toEqual([hmacSha256Hex(old, 's'), hashSecret('s')])
  })
})

describe('a service with a hash key', () => {
  it('stores HMAC hashes, and moves plain sha256 tokens (previous key null) to the key on use', async () => {
    const store = new MemoryTokenStore()
    const plain = createTokens({ store, lastUsed: false })
    const before = await plain.create('42', 'before the key', ['read'])
    const keyed = createTokens({ store, lastUsed: false, hashKey: key, previousHashKeys: [null] })
    const after = await keyed.create('42', 'after the key', ['read'])
    const secret = after.plainTextToken.split('|')[1] as string
    expect((await store.findById(after.token.id))?.tokenHash).toBe(hmacSha256Hex(key, secret))
    // Without its id too (findByHash under each key in turn).
    const bare = before.plainTextToken.split('|')[1] as string
    expect((await keyed.authenticate(bare))?.id).toBe(before.token.id)
    // A well-formed secret that no key's hash finds.
    const stranger = await createTokens({ store: new MemoryTokenStore() }).create('42', 'elsewhere', ['read'])
    expect(await keyed.authenticate(stranger.plainTextToken.split('|')[1] as string)).toBeNull()
    await expect
      .poll(async () => (await store.findById(before.token.id))?.tokenHash)
      .toBe(hmacSha256Hex(key, bare))
    expect(await plain.authenticate(before.plainTextToken)).toBeNull()
    const strict = createTokens({ store: new MemoryTokenStore(), lastUsed: false, hashKey: key })
    const planted = await store.insert({
      owner: { type: 'user', id: '42' },
      name: 'planted',
      abilities: ['*'],
      tokenHash: hashSecret('a'.repeat(40)),
      expiresAt: null,
      createdAt: new Date(),
      updatedAt: new Date(),
    })
    expect(await strict.authenticate(`${planted.id}|${'a'.repeat(40)}`)).toBeNull()
  })

  it('keeps accepting a token whose move to the key failed, reports the failure, and moves it on a later use', async () => {
    const store = new MemoryTokenStore()
    const before = await createTokens({ store, lastUsed: false }).create('42', 'before the key', ['read'])
    // The database refuses writes for a while; reads still answer.
    let down = true
    let updates = 0
    const update = store.update.bind(store)
    store.update = (...args) => {
      updates++
      return down ? Promise.reject(new StorageUnavailableError('The database is down.')) : update(...args)
    }
    const reported: unknown[] = []
    const keyed = createTokens({
      store,
      lastUsed: false,
      hashKey: key,
      previousHashKeys: [null],
      on: { error: (error) => void reported.push(error) },
    })
    // Two uses at once send one move.
    const uses = await Promise.all([1, 2].map(() => keyed.authenticate(before.plainTextToken)))
    expect(uses.map((token) => token?.id)).toEqual([before.token.id, before.token.id])
    await expect.poll(() => reported).toEqual([expect.any(StorageUnavailableError)])
    expect(updates).toBe(1)
    down = false
    expect((await keyed.authenticate(before.plainTextToken))?.id).toBe(before.token.id)
    const secret = before.plainTextToken.split('|')[1] as string
    await expect
      .poll(async () => (await store.findById(before.token.id))?.tokenHash)
      .toBe(hmacSha256Hex(key, secret))
    expect(updates).toBe(2)
  })
})
