import { describe, expectTypeOf, it } from 'vitest'
import { createAuth } from './auth.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { createTokens } from './token-service.js'

describe('typed permission names', () => {
  const permissions = new PermissionRegistry({
    permissions: ['create', 'read', 'update', 'delete'],
    defaults: ['read'],
  })
  const tokens = createTokens({ store: new MemoryTokenStore(), permissions })

  it('infers the names from a literal list without `as const`', () => {
    expectTypeOf(permissions.permissions).toEqualTypeOf<
      readonly ('create' | 'read' | 'update' | 'delete')[]
    >()
    expectTypeOf(permissions.validPermissions([])).toEqualTypeOf<
      ('create' | 'read' | 'update' | 'delete')[]
    >()
  })

  it('makes a misspelt permission a compile error', async () => {
    const found = await tokens.authenticate('x')
    expectTypeOf(found).toEqualTypeOf<PersonalAccessToken<'create' | 'read' | 'update' | 'delete'> | null>()
    found?.can('read')
    // @ts-expect-error 'raed' is not a defined permission
    found?.can('raed')
    const auth = createAuth({ id: '42' }, found)
    auth.tokenCan('update')
    // @ts-expect-error 'raed' is not a defined permission
    auth.tokenCan('raed')
    // @ts-expect-error 'raed' is not a defined permission
    auth.tokenCant('raed')
  })

  it('makes a misspelt default or ability a compile error', async () => {
    // @ts-expect-error 'raed' is not one of the permissions
    new PermissionRegistry({ permissions: ['read'], defaults: ['raed'] })
    await tokens.create('42', 'ok', ['read', '*']).catch(() => undefined)
    // @ts-expect-error 'raed' is not a defined permission
    await tokens.create('42', 'typo', ['raed']).catch(() => undefined)
  })

  it('accepts any name without a registry', async () => {
    const free = createTokens({ store: new MemoryTokenStore() })
    const found = await free.authenticate('x')
    expectTypeOf(found).toEqualTypeOf<PersonalAccessToken<string> | null>()
    found?.can('anything')
  })
})
