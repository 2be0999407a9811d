import { describe, expect, it } from 'vitest'
import { assertAbilities, assertAnyAbility } from './ability-checks.js'
import { createAuth } from './auth.js'
import { MissingAbilitiesError, UnauthenticatedError } from './errors.js'
import { PersonalAccessToken } from './personal-access-token.js'
import { createRequestAuth } from './request-guard.js'
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

function withToken(abilities: string[]) {
  return createAuth<User, Permission>(user, tokenWith(abilities))
}

/** The error `run` throws, or a failure when it throws none. */
function thrown(run: () => void): unknown {
  try {
    run()
  } catch (error) {
    return error
  }
  throw new Error('expected the call to throw')
}

describe('assertAbilities (needs every ability)', () => {
  it('passes when the token holds every ability asked for', () => {
    expect(() => assertAbilities(withToken(['read', 'update', 'delete']), ['read', 'update'])).not.toThrow()
  })

  it('passes for an empty list of abilities', () => {
    expect(() => assertAbilities(withToken([]), [])).not.toThrow()
  })

  it('throws MissingAbilitiesError (403) naming only the missing abilities, in the order asked', () => {
    const error = thrown(() => assertAbilities(withToken(['read']), ['delete', 'read', 'update']))
    expect(error).toBeInstanceOf(MissingAbilitiesError)
    expect((error as MissingAbilitiesError).abilities).toEqual(['delete', 'update'])
    expect((error as MissingAbilitiesError).status).toBe(403)
    expect((error as MissingAbilitiesError).code).toBe('missing_abilities')
  })

  it('names a single missing ability even when the token holds the others', () => {
    const error = thrown(() => assertAbilities(withToken(['read', 'update']), ['read', 'update', 'delete']))
    expect((error as MissingAbilitiesError).abilities).toEqual(['delete'])
  })

  it('matches abilities exactly and case-sensitively', () => {
    const error = thrown(() => assertAbilities(withToken(['READ']), ['read']))
    expect((error as MissingAbilitiesError).abilities).toEqual(['read'])
  })

  it("lets a token holding '*' pass whatever is asked", () => {
    expect(() => assertAbilities(withToken(['*']), ['create', 'read', 'update', 'delete'])).not.toThrow()
  })

  it('lets a session request (TransientToken) pass whatever is asked', () => {
    const auth = createAuth<User, Permission>(user, new TransientToken())
    expect(() => assertAbilities(auth, ['create', 'read', 'update', 'delete'])).not.toThrow()
  })

  it('throws UnauthenticatedError (401) for a guest, before looking at abilities', () => {
    const error = thrown(() => assertAbilities(createAuth<User, Permission>(null, null), ['read']))
    expect(error).toBeInstanceOf(UnauthenticatedError)
    expect((error as UnauthenticatedError).status).toBe(401)
    // Even asking for nothing needs a signed-in request.
    expect(thrown(() => assertAbilities(createAuth<User, Permission>(null, null), []))).toBeInstanceOf(
      UnauthenticatedError,
    )
  })

  it('throws UnauthenticatedError for a user without a token and for a token without a user', () => {
    expect(thrown(() => assertAbilities(createAuth<User, Permission>(user, null), ['read']))).toBeInstanceOf(
      UnauthenticatedError,
    )
    expect(
      thrown(() => assertAbilities(createAuth<User, Permission>(null, tokenWith(['*'])), ['read'])),
    ).toBeInstanceOf(UnauthenticatedError)
  })
})

describe('assertAnyAbility (needs one of the abilities)', () => {
  it('passes when the token holds at least one of the abilities', () => {
    expect(() => assertAnyAbility(withToken(['update']), ['read', 'update'])).not.toThrow()
    expect(() => assertAnyAbility(withToken(['read', 'update']), ['read', 'update'])).not.toThrow()
  })

  it('throws MissingAbilitiesError naming every ability asked for when the token holds none', () => {
    const error = thrown(() => assertAnyAbility(withToken(['create']), ['read', 'update', 'delete']))
    expect(error).toBeInstanceOf(MissingAbilitiesError)
    expect((error as MissingAbilitiesError).abilities).toEqual(['read', 'update', 'delete'])
    expect((error as MissingAbilitiesError).status).toBe(403)
  })

  it('refuses a token with no abilities at all', () => {
    const error = thrown(() => assertAnyAbility(withToken([]), ['read']))
    expect((error as MissingAbilitiesError).abilities).toEqual(['read'])
  })

  it('refuses when no abilities are asked for, since none of them is held', () => {
    const error = thrown(() => assertAnyAbility(withToken(['*']), []))
    expect(error).toBeInstanceOf(MissingAbilitiesError)
    expect((error as MissingAbilitiesError).abilities).toEqual([])
  })

  it("lets a token holding '*' pass", () => {
    expect(() => assertAnyAbility(withToken(['*']), ['delete'])).not.toThrow()
  })

  it('lets a session request (TransientToken) pass', () => {
    const auth = createAuth<User, Permission>(user, new TransientToken())
    expect(() => assertAnyAbility(auth, ['delete', 'update'])).not.toThrow()
  })

  it('throws UnauthenticatedError for a guest, a user without a token or a token without a user', () => {
    expect(thrown(() => assertAnyAbility(createAuth<User, Permission>(null, null), ['read']))).toBeInstanceOf(
      UnauthenticatedError,
    )
    expect(thrown(() => assertAnyAbility(createAuth<User, Permission>(user, null), ['read']))).toBeInstanceOf(
      UnauthenticatedError,
    )
    expect(
      thrown(() => assertAnyAbility(createAuth<User, Permission>(null, tokenWith(['*'])), ['read'])),
    ).toBeInstanceOf(UnauthenticatedError)
  })
})

describe('ability checks on a request whose token was refused', () => {
  // Adapters pass a RequestAuth: a refused token must still read as `error="invalid_token"` in the 401.
  it('assertAbilities keeps tokenRejected on its UnauthenticatedError', () => {
    const error = thrown(() =>
      assertAbilities(createRequestAuth<User, Permission>(null, null, true), ['read']),
    )
    expect(error).toBeInstanceOf(UnauthenticatedError)
    expect((error as UnauthenticatedError).tokenRejected).toBe(true)
  })

  it('assertAnyAbility keeps tokenRejected on its UnauthenticatedError', () => {
    const error = thrown(() =>
      assertAnyAbility(createRequestAuth<User, Permission>(null, null, true), ['read']),
    )
    expect(error).toBeInstanceOf(UnauthenticatedError)
    expect((error as UnauthenticatedError).tokenRejected).toBe(true)
  })

  it('reports tokenRejected false for a guest that presented no token', () => {
    const error = thrown(() =>
      assertAbilities(createRequestAuth<User, Permission>(null, null, false), ['read']),
    )
    expect((error as UnauthenticatedError).tokenRejected).toBe(false)
  })
})
