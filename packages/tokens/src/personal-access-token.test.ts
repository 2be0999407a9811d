import { describe, expect, it } from 'vitest'
import {
  lastUsedMillis,
  PersonalAccessToken,
  type PersonalAccessTokenData,
  swapVerification,
} from './personal-access-token.js'
import { Attempt } from './token-telemetry.js'

function token(abilities: string[], data: Partial<PersonalAccessTokenData> = {}): PersonalAccessToken {
  return new PersonalAccessToken({
    id: '7',
    owner: { type: 'user', id: '42' },
    name: 'CLI',
    abilities,
    lastUsedAt: null,
    expiresAt: null,
    createdAt: new Date('2026-01-01T00:00:00Z'),
    ...data,
  })
}

describe('PersonalAccessToken', () => {
  it('can what its abilities hold, exactly and case-sensitively', () => {
    const t = token(['read', 'update'])
    expect(t.can('read')).toBe(true)
    expect(t.can('update')).toBe(true)
    expect(t.can('delete')).toBe(false)
    expect(t.can('Read')).toBe(false)
    expect(t.can('rea')).toBe(false)
    expect(t.can('')).toBe(false)
  })

  it('cant is the negation of can', () => {
    const t = token(['read'])
    expect(t.cant('read')).toBe(false)
    expect(t.cant('delete')).toBe(true)
  })

  it("can everything with '*'", () => {
    const t = token(['*'])
    expect(t.can('delete')).toBe(true)
    expect(t.can('anything at all')).toBe(true)
    expect(t.cant('delete')).toBe(false)
  })

  it('can nothing without abilities', () => {
    expect(token([]).can('read')).toBe(false)
  })

  it('serialises without a secret or hash, and cannot be changed through its arrays', () => {
    const t = token(['read'])
    const json = JSON.parse(JSON.stringify({ ...t, hash: undefined, ...t.toJSON() }))
    expect(Object.keys(t.toJSON()).sort()).toEqual([
      'abilities',
      'createdAt',
      'expiresAt',
      'id',
      'lastUsedAt',
      'metadata',
      'name',
      'owner',
    ])
    expect(json).toEqual({
      id: '7',
      owner: { type: 'user', id: '42' },
      name: 'CLI',
      abilities: ['read'],
      lastUsedAt: null,
      expiresAt: null,
      createdAt: '2026-01-01T00:00:00.000Z',
      metadata: null,
    })
    expect(() => (t.abilities as string[]).push('delete')).toThrow()
    expect(t.can('delete')).toBe(false)
  })

  it('keeps its times to itself: changing a Date read from it, or the one it was made from, changes nothing', () => {
    const createdAt = new Date('2026-01-01T00:00:00Z')
    const expiresAt = new Date('2026-02-01T00:00:00Z')
    const t = token(['read'], { expiresAt, createdAt })
    expiresAt.setTime(0)
    t.expiresAt?.setTime(Date.UTC(2099, 0, 1))
    t.createdAt.setTime(0)
    expect(t.expiresAt).toEqual(new Date('2026-02-01T00:00:00Z'))
    expect(t.createdAt).toEqual(new Date('2026-01-01T00:00:00Z'))
    expect(t.lastUsedAt).toBeNull()
    expect(JSON.parse(JSON.stringify(t))).toMatchObject({
      expiresAt: '2026-02-01T00:00:00.000Z',
      createdAt: '2026-01-01T00:00:00.000Z',
      lastUsedAt: null,
    })
  })
})

describe('lastUsedMillis', () => {
  it('reads the last use as epoch milliseconds, null when never used', () => {
    const data = { id: '1', owner: { type: 'user', id: '42' }, name: 'n', abilities: [], expiresAt: null }
    const createdAt = new Date('2026-06-01T12:00:00Z')
    expect(lastUsedMillis(new PersonalAccessToken({ ...data, createdAt, lastUsedAt: null }))).toBeNull()
    const used = new PersonalAccessToken({
      ...data,
      createdAt,
      lastUsedAt: new Date(createdAt.getTime() + 5),
    })
    expect(lastUsedMillis(used)).toBe(createdAt.getTime() + 5)
  })
})

describe('swapVerification', () => {
  it('holds one value per token, handed back once, and shows nowhere an app looks', () => {
    const data = { id: '1', owner: { type: 'user', id: '42' }, name: 'n', abilities: [], expiresAt: null }
    const token = new PersonalAccessToken({ ...data, createdAt: new Date(), lastUsedAt: null })
    const other = new PersonalAccessToken({ ...data, createdAt: new Date(), lastUsedAt: null })
    const attempt = new Attempt()
    const json = JSON.stringify(token)
    expect(swapVerification(token, attempt)).toBeNull()
    expect(swapVerification(other, null)).toBeNull()
    expect(JSON.stringify(token)).toBe(json)
    expect(Object.keys(token)).not.toContain('verification')
    expect(swapVerification(token, null)).toBe(attempt)
    expect(swapVerification(token, null)).toBeNull()
  })
})
