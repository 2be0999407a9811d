import { describe, expect, it } from 'vitest'
import { hasAbilities, mayRotate } from './token-store.js'

describe('the contract’s checks for stores', () => {
  const end = new Date('2030-01-01T00:00:00Z')
  const old = { name: 'deploy', abilities: ['read', 'delete'], expiresAt: end }

  it('lets a rotation through only onto a copy that ends no later than the old token', () => {
    expect(mayRotate(old, { ...old })).toBe(true)
    expect(mayRotate(old, { ...old, expiresAt: new Date(end.getTime() - 1) })).toBe(true)
    expect(mayRotate(old, { ...old, expiresAt: new Date(end.getTime() + 1) })).toBe(false)
    expect(mayRotate(old, { ...old, expiresAt: null })).toBe(false)
    expect(mayRotate(old, { ...old, name: 'Deploy' })).toBe(false)
    expect(mayRotate(old, { ...old, abilities: ['read'] })).toBe(false)
    expect(mayRotate({ ...old, expiresAt: null }, { ...old, expiresAt: null })).toBe(true)
  })

  it('compares abilities exactly, in order', () => {
    expect(hasAbilities(old, ['read', 'delete'])).toBe(true)
    expect(hasAbilities(old, ['delete', 'read'])).toBe(false)
    expect(hasAbilities(old, ['read'])).toBe(false)
    expect(hasAbilities(old, ['read', 'delete', 'update'])).toBe(false)
    expect(hasAbilities({ abilities: [] }, [])).toBe(true)
  })
})
