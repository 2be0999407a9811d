import { describe, expect, it } from 'vitest'
import type { TokenRecord } from './token-store.js'
import { VerificationCache } from './verification-cache.js'

const record = (id: string): TokenRecord => ({
  id,
  owner: { type: 'user', id: '42' },
  name: `token ${id}`,
  abilities: ['read'],
  tokenHash: 'h'.repeat(64),
  lastUsedAt: null,
  expiresAt: null,
  createdAt: new Date(0),
  updatedAt: new Date(0),
})

describe('VerificationCache', () => {
  it('keeps a record for its lifetime, then forgets it', () => {
    const cache = new VerificationCache({ ttl: 1_000 })
    cache.set(record('1'), 0, cache.generation)
    expect(cache.get('1', 999)?.id).toBe('1')
    expect(cache.get('1', 1_000)).toBeUndefined()
    expect(cache.size).toBe(0)
  })

  it('holds at most maxEntries, dropping the oldest', () => {
    const cache = new VerificationCache({ maxEntries: 3 })
    for (const id of ['1', '2', '3', '4']) cache.set(record(id), 0, cache.generation)
    expect(cache.size).toBe(3)
    expect(cache.get('1', 0)).toBeUndefined()
    expect(cache.get('4', 0)?.id).toBe('4')
  })

  it('refuses a record looked up before an invalidation', () => {
    const cache = new VerificationCache()
    const before = cache.generation
    cache.invalidate(['1']) // a revoke resolved while the lookup was in flight
    cache.set(record('1'), 0, before)
    expect(cache.get('1', 0)).toBeUndefined()
    cache.set(record('1'), 0, cache.generation)
    expect(cache.get('1', 0)?.id).toBe('1')
  })

  it('forgets invalidated ids and, on clear, everything', () => {
    const cache = new VerificationCache()
    for (const id of ['1', '2', '3']) cache.set(record(id), 0, cache.generation)
    cache.invalidate(['1', '3'])
    expect([cache.get('1', 0), cache.get('2', 0)?.id, cache.get('3', 0)]).toEqual([undefined, '2', undefined])
    cache.clear()
    expect(cache.size).toBe(0)
  })

  it('is bypassed while not trusted, and starts empty when trusted again', () => {
    const cache = new VerificationCache()
    cache.set(record('1'), 0, cache.generation)
    cache.trust(false)
    expect(cache.get('1', 0)).toBeUndefined()
    cache.set(record('2'), 0, cache.generation)
    expect(cache.size).toBe(0)
    cache.trust(true)
    expect(cache.get('1', 0)).toBeUndefined()
    cache.set(record('1'), 0, cache.generation)
    expect(cache.get('1', 0)?.id).toBe('1')
  })

  it('notes a newer last use on a kept record in place', () => {
    const cache = new VerificationCache()
    cache.set(record('1'), 0, cache.generation)
    cache.used('1', new Date(5))
    expect(cache.get('1', 0)?.lastUsedAt).toEqual(new Date(5))
    cache.used('9', new Date(5))
    expect(cache.size).toBe(1)
  })
})
