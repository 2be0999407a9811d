import { describe, expect, it } from 'vitest'
import { ConflictError, ForbiddenError, InvalidInputError, MissingAbilitiesError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import type { TokenOwner } from './token-owner.js'
import { createTokens, type TokenServiceOptions } from './token-service.js'
import type { NewTokenRecord, TokenChanges, TokenRecord } from './token-store.js'

const start = Date.parse('2026-06-01T12:00:00Z')

function setup(options: Partial<TokenServiceOptions> = {}) {
  const clock = { now: start }
  const store = new MemoryTokenStore()
  const tokens = createTokens({ store, lastUsed: false, now: () => new Date(clock.now), ...options })
  return { clock, store, tokens }
}

describe('rotate', () => {
  it('keeps name, abilities, owner, metadata and expiry; the old secret stops at once by default', async () => {
    const { tokens, store } = setup()
    const expiresAt = new Date(start + 86_400_000)
    const old = await tokens.create('42', 'deploy', ['read', 'write'], { expiresAt, metadata: { ci: true } })
    const next = await tokens.rotate('42', old.token.id)
    expect(next?.token.toJSON()).toMatchObject({
      name: 'deploy',
      abilities: ['read', 'write'],
      owner: { type: 'user', id: '42' },
      expiresAt,
      metadata: { ci: true },
    })
    expect(await store.findById(old.token.id)).toBeNull()
    expect(await tokens.authenticate(old.plainTextToken)).toBeNull()
    expect((await tokens.authenticate(next?.plainTextToken ?? ''))?.id).toBe(next?.token.id)
  })

  it('never lets a grace period outlast the old token, and never extends the token past its end', async () => {
    const { tokens, store, clock } = setup({ expiration: 60 })
    const old = await tokens.create('42', 'short', ['read'])
    clock.now += 30 * 60_000
    const next = await tokens.rotate('42', old.token.id, { grace: 24 * 60 })
    // The global expiration counted from the old token's creation, not the new one's.
    expect(next?.token.expiresAt?.getTime()).toBe(start + 60 * 60_000)
    expect((await store.findById(old.token.id))?.expiresAt?.getTime()).toBe(start + 60 * 60_000)
    clock.now = start + 60 * 60_000
    expect(await tokens.authenticate(next?.plainTextToken ?? '')).toBeNull()
  })

  it('refuses a bad grace, an expired token, and unknown or foreign ids', async () => {
    const { tokens, clock } = setup()
    const old = await tokens.create('42', 'x', ['read'], { expiresAt: new Date(start + 60_000) })
    for (const grace of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5' as unknown as number, 1e12]) {
      await expect(tokens.rotate('42', old.token.id, { grace })).rejects.toBeInstanceOf(InvalidInputError)
    }
    expect(await tokens.rotate('7', old.token.id)).toBeNull()
    expect(await tokens.rotate('42', '999')).toBeNull()
    expect(await tokens.rotate('42', '01')).toBeNull()
    clock.now += 60_000
    const expired = await tokens.rotate('42', old.token.id).catch((error) => error)
    expect(expired).toBeInstanceOf(InvalidInputError)
    expect(expired.errors.token).toEqual(['The token has expired: create a new one instead.'])
  })

  it('refuses a grace that would end past the year 9999, leaving the old token as it was', async () => {
    const { tokens, store } = setup()
    const old = await tokens.create('42', 'forever', ['read'])
    const refused = await tokens.rotate('42', old.token.id, { grace: 1e12 }).catch((error) => error)
    expect(refused).toBeInstanceOf(InvalidInputError)
    expect(refused.errors.grace).toEqual(['The grace field must end before the year 10000.'])
    expect((await store.findById(old.token.id))?.expiresAt).toBeNull()
    expect((await tokens.authenticate(old.plainTextToken))?.id).toBe(old.token.id)
    // The longest grace that still ends in the year 9999 is taken.
    const latest = (Date.UTC(10_000, 0, 1) - start) / 60_000 - 1
    const next = await tokens.rotate('42', old.token.id, { grace: latest })
    expect(next).not.toBeNull()
    expect((await store.findById(old.token.id))?.expiresAt?.getUTCFullYear()).toBe(9999)
  })

  it('refuses to regenerate a token past its idle timeout, which would restart its idle clock', async () => {
    const { tokens, clock } = setup({ idleTimeout: 10, lastUsed: { interval: 60_000, flushDelay: 1_000 } })
    const old = await tokens.create('42', 'idle', ['read'])
    clock.now += 10 * 60_000 + 61_000
    expect(await tokens.authenticate(old.plainTextToken)).toBeNull()
    const refused = await tokens.rotate('42', old.token.id).catch((error) => error)
    expect(refused).toBeInstanceOf(InvalidInputError)
    expect(refused.errors.token).toEqual([
      'The token has not been used within its idle timeout: create a new one instead.',
    ])
    await tokens.close()
  })

  it('lets a token regenerate only a token whose abilities it holds, and clamps to its own end', async () => {
    const { tokens } = setup()
    const wide = await tokens.create('42', 'wide', ['read', 'delete'])
    const maker = (await tokens.create('42', 'maker', ['read'], { expiresAt: new Date(start + 3_600_000) }))
      .token
    await expect(tokens.rotate('42', wide.token.id, { grantedBy: maker })).rejects.toBeInstanceOf(
      MissingAbilitiesError,
    )
    const narrow = await tokens.create('42', 'narrow', ['read'])
    const next = await tokens.rotate('42', narrow.token.id, { grantedBy: maker })
    expect(next?.token.expiresAt?.getTime()).toBe(start + 3_600_000)
  })

  it('refuses with 403 a token rotating a token whose metadata differs from its own', async () => {
    const { tokens } = setup()
    const tagged = await tokens.create('42', 'tagged', ['read'], { metadata: { admin: true } })
    const maker = (await tokens.create('42', 'maker', ['read'])).token
    await expect(tokens.rotate('42', tagged.token.id, { grantedBy: maker })).rejects.toBeInstanceOf(
      ForbiddenError,
    )
    expect(await tokens.authenticate(tagged.plainTextToken)).not.toBeNull()
    const alike = (await tokens.create('42', 'alike', ['read'], { metadata: { admin: true } })).token
    expect(await tokens.rotate('42', tagged.token.id, { grantedBy: alike })).not.toBeNull()
  })

  describe('beside a change of the same token', () => {
    // A store where `change` runs between the service's read of the token and the store's rotation (or a managing
    // token's checked update), as a request that lands in between would.
    class ChangedInBetween extends MemoryTokenStore {
      change: ((store: MemoryTokenStore, id: string) => Promise<unknown>) | null = null
      rotations = 0

      override async rotate(
        owner: TokenOwner,
        id: string,
        token: NewTokenRecord,
        retireAt: Date | null,
      ): Promise<TokenRecord | null> {
        this.rotations++
        await this.change?.(this, id)
        return super.rotate(owner, id, token, retireAt)
      }

      override async update(
        owner: TokenOwner,
        id: string,
        changes: TokenChanges,
      ): Promise<TokenRecord | null> {
        if (changes.abilitiesWere) await this.change?.(this, id)
        return super.update(owner, id, changes)
      }
    }
    const alice = { type: 'user', id: '42' }
    const later = () => new Date(start + 1_000)

    it('gives the new token the abilities as narrowed in between, never those taken away', async () => {
      const store = new ChangedInBetween()
      const tokens = createTokens({ store, lastUsed: false, now: () => new Date(start) })
      const old = await tokens.create('42', 'deploy', ['read', 'delete'])
      store.change = async (each, id) => {
        store.change = null
        await each.update(alice, id, { abilities: ['read'], name: 'deploy (read only)', updatedAt: later() })
      }
      const next = await tokens.rotate('42', old.token.id)
      expect(next?.token).toMatchObject({ name: 'deploy (read only)', abilities: ['read'] })
      expect(store.rotations).toBe(2)
      expect((await tokens.list('42')).map((token) => token.id)).toEqual([next?.token.id])
      const used = await tokens.authenticate(next?.plainTextToken ?? '')
      expect(used?.can('delete')).toBe(false)
    })

    it('checks a managing token against the abilities as widened in between', async () => {
      const store = new ChangedInBetween()
      const tokens = createTokens({ store, lastUsed: false, now: () => new Date(start) })
      const maker = (await tokens.create('42', 'maker', ['read'])).token
      const old = await tokens.create('42', 'deploy', ['read'])
      store.change = async (each, id) => {
        store.change = null
        await each.update(alice, id, { abilities: ['read', 'delete'], updatedAt: later() })
      }
      const refused = await tokens.rotate('42', old.token.id, { grantedBy: maker }).catch((error) => error)
      expect(refused).toBeInstanceOf(MissingAbilitiesError)
      expect(refused.abilities).toEqual(['delete'])
      expect((await tokens.list('42')).map((token) => token.name).sort()).toEqual(['deploy', 'maker'])
    })

    it('never lets a successor outlive a retirement that landed in between', async () => {
      const store = new ChangedInBetween()
      const tokens = createTokens({ store, lastUsed: false, now: () => new Date(start) })
      const old = await tokens.create('42', 'deploy', ['read'])
      let first: Awaited<ReturnType<typeof tokens.rotate>> = null
      store.change = async () => {
        store.change = null
        first = await tokens.rotate('42', old.token.id, { grace: 5 })
      }
      const second = await tokens.rotate('42', old.token.id, { grace: 5 })
      const retiredAt = start + 5 * 60_000
      expect((first as Awaited<ReturnType<typeof tokens.rotate>>)?.token.expiresAt).toBeNull()
      expect(second?.token.expiresAt?.getTime()).toBe(retiredAt)
    })

    it('answers null when the token was deleted in between', async () => {
      const store = new ChangedInBetween()
      const tokens = createTokens({ store, lastUsed: false, now: () => new Date(start) })
      const old = await tokens.create('42', 'deploy', ['read'])
      store.change = (each, id) => each.delete(alice, id)
      expect(await tokens.rotate('42', old.token.id)).toBeNull()
      expect(await tokens.list('42')).toEqual([])
    })

    it('gives up with a 409 on a token that changes before each of three rotations, leaving it as changed', async () => {
      const store = new ChangedInBetween()
      const tokens = createTokens({ store, lastUsed: false, now: () => new Date(start) })
      const old = await tokens.create('42', 'deploy', ['read'])
      let renames = 0
      store.change = (each, id) => each.update(alice, id, { name: `deploy ${++renames}`, updatedAt: later() })
      const refused = await tokens.rotate('42', old.token.id).catch((error) => error)
      expect(refused).toBeInstanceOf(ConflictError)
      expect(refused).toMatchObject({ status: 409, code: 'conflict' })
      expect(store.rotations).toBe(3)
      const left = await tokens.list('42')
      expect(left.map((token) => [token.id, token.name])).toEqual([[old.token.id, 'deploy 3']])
      expect(await tokens.authenticate(old.plainTextToken)).not.toBeNull()
    })

    it('holds a managing token’s update to the target as narrowed in between, never undoing the narrowing', async () => {
      const store = new ChangedInBetween()
      const tokens = createTokens({ store, lastUsed: false, now: () => new Date(start) })
      const ends = new Date(start + 3_600_000)
      const maker = (await tokens.create('42', 'maker', ['read', 'delete'], { expiresAt: ends })).token
      // No expiry of its own: it outlives the maker, which may then change its abilities but add none.
      const target = await tokens.create('42', 'deploy', ['read', 'delete'])
      store.change = async (each, id) => {
        store.change = null
        await each.update(alice, id, { abilities: ['read'], updatedAt: later() })
      }
      const changes = { name: 'deploy (renamed)', abilities: ['read', 'delete'] as const, grantedBy: maker }
      const refused = await tokens.update('42', target.token.id, changes).catch((error) => error)
      expect(refused).toBeInstanceOf(ForbiddenError)
      expect((await store.findById(target.token.id))?.abilities).toEqual(['read'])
    })

    it('gives up with a 409 on a target that changes before each of three checked updates', async () => {
      const store = new ChangedInBetween()
      const tokens = createTokens({ store, lastUsed: false, now: () => new Date(start) })
      const maker = (await tokens.create('42', 'maker', ['read', 'delete'])).token
      const target = await tokens.create('42', 'deploy', ['read', 'delete'])
      let turn = 0
      store.change = (each, id) =>
        each.update(alice, id, {
          abilities: ++turn % 2 ? ['delete'] : ['read', 'delete'],
          updatedAt: later(),
        })
      const refused = await tokens
        .update('42', target.token.id, { abilities: ['read'], grantedBy: maker })
        .catch((error) => error)
      expect(refused).toBeInstanceOf(ConflictError)
      expect(turn).toBe(3)
    })
  })
})
