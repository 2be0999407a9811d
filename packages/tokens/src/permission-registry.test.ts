import { describe, expect, it } from 'vitest'
import { MisconfigurationError } from './errors.js'
import { PermissionRegistry } from './permission-registry.js'

const registry = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})

describe('PermissionRegistry', () => {
  it('keeps the permissions and defaults in order, frozen', () => {
    expect(registry.permissions).toEqual(['create', 'read', 'update', 'delete'])
    expect(registry.defaults).toEqual(['read'])
    expect(Object.isFrozen(registry.permissions)).toBe(true)
    expect(Object.isFrozen(registry.defaults)).toBe(true)
  })

  it('does not keep a reference to the caller arrays', () => {
    const permissions = ['read']
    const copy = new PermissionRegistry({ permissions })
    permissions.push('write')
    expect(copy.permissions).toEqual(['read'])
  })

  it('tells whether any permission is defined', () => {
    expect(registry.hasPermissions()).toBe(true)
    expect(new PermissionRegistry({ permissions: [] }).hasPermissions()).toBe(false)
  })

  it('has() matches exactly and case-sensitively', () => {
    expect(registry.has('read')).toBe(true)
    expect(registry.has('Read')).toBe(false)
    expect(registry.has('read ')).toBe(false)
    expect(registry.has(1)).toBe(false)
  })

  it('validPermissions keeps defined permissions once, in input order', () => {
    expect(registry.validPermissions(['delete', 'fly', 'read', 'delete', 'READ', 7, null])).toEqual([
      'delete',
      'read',
    ])
    expect(registry.validPermissions([])).toEqual([])
  })

  it('validPermissions gives [] for anything that is not a list', () => {
    for (const input of ['read', undefined, null, { 0: 'read' }, 42])
      expect(registry.validPermissions(input)).toEqual([])
  })

  it('refuses defaults that are not defined permissions', () => {
    expect(() => new PermissionRegistry({ permissions: ['read'], defaults: ['write' as 'read'] })).toThrow(
      MisconfigurationError,
    )
  })

  it.each([[''], ['two words'], ['*'], ['quo"te'], ['back\\slash'], ['nul\0'], ['x'.repeat(256)]])(
    'refuses the permission name %j',
    (name) => {
      expect(() => new PermissionRegistry({ permissions: [name] })).toThrow(MisconfigurationError)
    },
  )

  it('refuses duplicate permissions and duplicate defaults', () => {
    expect(() => new PermissionRegistry({ permissions: ['read', 'read'] })).toThrow(/defined twice/)
    expect(() => new PermissionRegistry({ permissions: ['read'], defaults: ['read', 'read'] })).toThrow(
      /listed twice/,
    )
  })

  it('accepts names with dots, colons and non-ASCII letters', () => {
    const names = ['posts:read', 'billing.manage', 'écrire']
    expect(new PermissionRegistry({ permissions: names }).permissions).toEqual(names)
  })
})
