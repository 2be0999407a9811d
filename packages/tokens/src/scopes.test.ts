import { describe, expect, it } from 'vitest'
import { InvalidInputError, MisconfigurationError, MissingAbilitiesError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import { createTokens } from './token-service.js'

const permissions = ['posts:read', 'posts:update:own', 'posts:update:any', 'users:read'] as const

describe('scoped abilities', () => {
  const registry = new PermissionRegistry({ permissions, scopes: true })
  const tokens = createTokens({ store: new MemoryTokenStore(), permissions: registry, lastUsed: false })

  it('grants every permission below a scope, and nothing beside it', async () => {
    const { plainTextToken } = await tokens.create('42', 'posts', ['posts:*'])
    const token = await tokens.authenticate(plainTextToken)
    expect(token?.can('posts:read')).toBe(true)
    expect(token?.can('posts:update:own')).toBe(true)
    expect(token?.can('users:read')).toBe(false)
    const narrower = await tokens.authenticate(
      (await tokens.create('42', 'u', ['posts:update:*'])).plainTextToken,
    )
    expect(narrower?.can('posts:update:any')).toBe(true)
    expect(narrower?.can('posts:read')).toBe(false)
    expect(narrower?.can('posts:*' as never)).toBe(false)
  })

  it('knows which scopes are valid: those above a defined permission', async () => {
    expect(registry.grants('posts:*')).toBe(true)
    expect(registry.grants('posts:update:*')).toBe(true)
    expect(registry.grants('users:*')).toBe(true)
    expect(registry.grants('comments:*')).toBe(false)
    expect(registry.grants('posts:read:*')).toBe(false)
    expect(registry.grants('*')).toBe(false)
    expect(registry.validPermissions(['posts:*', 'comments:*', 'users:read'])).toEqual([
      'posts:*',
      'users:read',
    ])
    await expect(tokens.create('42', 'x', ['comments:*' as never])).rejects.toBeInstanceOf(InvalidInputError)
  })

  it('never lets a maker grant a scope wider than what it holds', async () => {
    const maker = await tokens.authenticate(
      (await tokens.create('42', 'm', ['posts:update:*'])).plainTextToken,
    )
    await expect(tokens.create('42', 'x', ['posts:*'], { grantedBy: maker })).rejects.toBeInstanceOf(
      MissingAbilitiesError,
    )
    const made = await tokens.create('42', 'x', ['posts:update:own'], { grantedBy: maker })
    expect(made.token.abilities).toEqual(['posts:update:own'])
    const holdsEach = await tokens.authenticate(
      (await tokens.create('42', 'each', ['posts:read', 'posts:update:own', 'posts:update:any']))
        .plainTextToken,
    )
    await expect(tokens.create('42', 'x', ['posts:*'], { grantedBy: holdsEach })).rejects.toBeInstanceOf(
      MissingAbilitiesError,
    )
  })

  it('is off by default: `posts:*` is then no scope, as in Sanctum', async () => {
    const plain = new PermissionRegistry({ permissions })
    expect(plain.grants('posts:*')).toBe(false)
    const free = createTokens({ store: new MemoryTokenStore(), lastUsed: false })
    const token = await free.authenticate((await free.create('42', 'literal', ['posts:*'])).plainTextToken)
    expect(token?.can('posts:*')).toBe(true)
    expect(token?.can('posts:read')).toBe(false)
  })

  it('refuses a permission named like a scope when scopes are on', () => {
    expect(() => new PermissionRegistry({ permissions: ['posts:*'], scopes: true })).toThrow(
      MisconfigurationError,
    )
  })
})
