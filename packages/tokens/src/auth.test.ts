import { describe, expect, it } from 'vitest'
import { createAuth, isSignedIn } from './auth.js'
import { PersonalAccessToken } from './personal-access-token.js'
import { TransientToken } from './transient-token.js'

const readOnly = new PersonalAccessToken({
  id: '1',
  owner: { type: 'user', id: '42' },
  name: 'read only',
  abilities: ['read'],
  lastUsedAt: null,
  expiresAt: null,
  createdAt: new Date(),
})

describe('createAuth', () => {
  it('asks the token', () => {
    const auth = createAuth({ id: '42' }, readOnly)
    expect(auth.tokenCan('read')).toBe(true)
    expect(auth.tokenCan('delete')).toBe(false)
    expect(auth.tokenCant('read')).toBe(false)
    expect(auth.tokenCant('delete')).toBe(true)
  })

  it('lets a session user do everything through the TransientToken', () => {
    const auth = createAuth({ id: '42' }, new TransientToken())
    expect(auth.tokenCan('delete')).toBe(true)
    expect(auth.tokenCant('delete')).toBe(false)
  })

  it('says no without a token, as Sanctum does', () => {
    const auth = createAuth(null, null)
    expect(auth.tokenCan('read')).toBe(false)
    expect(auth.tokenCant('read')).toBe(true)
  })

  it('isSignedIn needs both a user and a token', () => {
    expect(isSignedIn(createAuth({ id: '42' }, readOnly))).toBe(true)
    expect(isSignedIn(createAuth(null, readOnly))).toBe(false)
    expect(isSignedIn(createAuth({ id: '42' }, null))).toBe(false)
  })
})
