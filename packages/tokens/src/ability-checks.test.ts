import { describe, expect, it } from 'vitest'
import { abilityCheck } from './ability-checks.js'
import { createAuth } from './auth.js'
import { MisconfigurationError } from './errors.js'
import type { HttpAnswer } from './http-answer.js'
import { PersonalAccessToken } from './personal-access-token.js'
import { TransientToken } from './transient-token.js'

type Permission = 'create' | 'read' | 'update' | 'delete'

interface User {
  id: string
}

const user: User = { id: '42' }

function tokenWith(abilities: string[]): PersonalAccessToken<Permission> {
  return new PersonalAccessToken<Permission>({
    id: '1',
    owner: { type: 'user', id: '42' },
    name: 't',
    abilities,
    lastUsedAt: null,
    expiresAt: null,
    createdAt: new Date(),
  })
}

function withToken(abilities: string[], realm?: string) {
  return createAuth<User, Permission>(user, tokenWith(abilities), realm === undefined ? {} : { realm })
}

const guest = createAuth<User | null, Permission>(null, null)
const refusedGuest = createAuth<User | null, Permission>(null, null, { tokenRejected: true })

// Without ability limits every check answers at once.
function read(answer: HttpAnswer | null | Promise<HttpAnswer | null>) {
  if (answer instanceof Promise) throw new Error('an ability check without ability limits answered later')
  if (answer === null) return null
  return {
    status: answer.status,
    challenge: answer.headers['www-authenticate'],
    body: JSON.parse(answer.body),
  }
}

describe("abilityCheck('all') (Sanctum's abilities middleware)", () => {
  it('passes when the token holds every ability asked for', () => {
    expect(abilityCheck('all', ['read', 'update'])(withToken(['read', 'update', 'delete']))).toBeNull()
  })

  it('answers 403 insufficient_scope naming only the missing abilities, in the order asked', () => {
    expect(read(abilityCheck<Permission>('all', ['delete', 'read', 'update'])(withToken(['read'])))).toEqual({
      status: 403,
      challenge: 'Bearer realm="api", error="insufficient_scope", scope="delete update"',
      body: {
        message: 'The token is missing the "delete", "update" abilities.',
        code: 'missing_abilities',
        abilities: ['delete', 'update'],
      },
    })
  })

  it('matches abilities exactly and case-sensitively', () => {
    expect(read(abilityCheck<Permission>('all', ['read'])(withToken(['Read', 'read '])))?.status).toBe(403)
  })

  it("lets a token holding '*' and a session request (TransientToken) pass whatever is asked", () => {
    const check = abilityCheck<Permission>('all', ['create', 'read', 'update', 'delete'])
    expect(check(withToken(['*']))).toBeNull()
    expect(check(createAuth<User, Permission>(user, new TransientToken()))).toBeNull()
  })

  it('answers 401 for a guest, with invalid_token when its token was refused', () => {
    const check = abilityCheck<Permission>('all', ['read'])
    expect(read(check(guest))).toMatchObject({ status: 401, challenge: 'Bearer realm="api"' })
    expect(read(check(refusedGuest))?.challenge).toContain('error="invalid_token"')
  })

  it('answers in the realm of the request’s guard', () => {
    expect(read(abilityCheck<Permission>('all', ['delete'])(withToken(['read'], 'acme')))?.challenge).toBe(
      'Bearer realm="acme", error="insufficient_scope", scope="delete"',
    )
    const acmeGuest = createAuth<User | null, Permission>(null, null, { realm: 'acme' })
    expect(read(abilityCheck<Permission>('any', ['read'])(acmeGuest))?.challenge).toBe('Bearer realm="acme"')
  })
})

describe("abilityCheck('any') (Sanctum's ability middleware)", () => {
  it('passes when the token holds at least one of the abilities', () => {
    expect(abilityCheck<Permission>('any', ['delete', 'read'])(withToken(['read']))).toBeNull()
  })

  it('answers 403 naming every ability asked for when the token holds none', () => {
    expect(read(abilityCheck<Permission>('any', ['delete', 'update'])(withToken(['read'])))?.body).toEqual({
      message: 'The token is missing the "delete", "update" abilities.',
      code: 'missing_abilities',
      abilities: ['delete', 'update'],
    })
    expect(read(abilityCheck<Permission>('any', ['read'])(withToken([])))?.status).toBe(403)
  })

  it("lets a token holding '*' and a session request pass", () => {
    expect(abilityCheck<Permission>('any', ['delete'])(withToken(['*']))).toBeNull()
    expect(
      abilityCheck<Permission>('any', ['delete'])(createAuth<User, Permission>(user, new TransientToken())),
    ).toBeNull()
  })
})

describe('abilityCheck: the list is checked when the middleware is built', () => {
  it.each([[[]], [['']], [[42 as unknown as string]]])('refuses %j', (abilities) => {
    expect(() => abilityCheck('all', abilities)).toThrow(MisconfigurationError)
    expect(() => abilityCheck('any', abilities)).toThrow(MisconfigurationError)
  })

  it('keeps its own copy of the list', () => {
    const asked: Permission[] = ['read']
    const check = abilityCheck('all', asked)
    asked.push('delete')
    expect(check(withToken(['read']))).toBeNull()
  })
})
