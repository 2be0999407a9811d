import { describe, expect, it } from 'vitest'
import { createAuth, isSignedIn, signedInAuth } from './auth.js'
import { UnauthenticatedError } from './errors.js'
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

describe('signedInAuth', () => {
  it('hands on a signed-in auth, and refuses a guest with the 401 of its guard’s realm', () => {
    const user = { id: '42' }
    const signed = createAuth(user, new TransientToken())
    expect(signedInAuth(signed)).toBe(signed)
    const guest = createAuth(null, null, { realm: 'acme', tokenRejected: true })
    const refusal = (() => {
      try {
        signedInAuth(guest)
      } catch (error) {
        return error
      }
    })()
    expect(refusal).toBeInstanceOf(UnauthenticatedError)
    expect(refusal).toMatchObject({ status: 401, realm: 'acme', tokenRejected: true })
  })
})
