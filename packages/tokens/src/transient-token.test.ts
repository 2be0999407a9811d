import { describe, expect, it } from 'vitest'
import { PersonalAccessToken } from './personal-access-token.js'
import { isTransientToken, TransientToken } from './transient-token.js'

describe('TransientToken', () => {
  it('can everything and cant nothing', () => {
    const token = new TransientToken()
    for (const ability of ['read', 'delete', '*', '', 'anything']) {
      expect(token.can(ability)).toBe(true)
      expect(token.cant(ability)).toBe(false)
    }
  })

  it('says it is transient, in code and in JSON', () => {
    expect(new TransientToken().transient).toBe(true)
    expect(JSON.stringify(new TransientToken())).toBe('{"transient":true}')
  })

  it('is told apart from an API token by isTransientToken, also when built by another copy of the package', () => {
    expect(isTransientToken(new TransientToken())).toBe(true)
    expect(isTransientToken({ transient: true })).toBe(true)
    const token = new PersonalAccessToken({
      id: '1',
      owner: { type: 'user', id: '1' },
      name: 't',
      abilities: ['*'],
      lastUsedAt: null,
      expiresAt: null,
      createdAt: new Date(),
    })
    for (const other of [token, null, undefined, { transient: 'yes' }])
      expect(isTransientToken(other)).toBe(false)
  })
})
