import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  DriverError,
  ForbiddenError,
  InvalidInputError,
  isTokenError,
  MisconfigurationError,
  MissingAbilitiesError,
  StorageUnavailableError,
  TokenError,
  UnauthenticatedError,
} from './errors.js'

describe('errors', () => {
  it.each([
    [new UnauthenticatedError(), 'unauthenticated', 401, 'UnauthenticatedError'],
    [new MissingAbilitiesError(['delete']), 'missing_abilities', 403, 'MissingAbilitiesError'],
    [new ForbiddenError(), 'forbidden', 403, 'ForbiddenError'],
    [
      new InvalidInputError({ name: ['The name field is required.'] }),
      'invalid_input',
      422,
      'InvalidInputError',
    ],
    [new StorageUnavailableError(), 'storage_unavailable', 503, 'StorageUnavailableError'],
    [new MisconfigurationError('bad'), 'misconfigured', 500, 'MisconfigurationError'],
  ])('%s has a stable code and status', (error, code, status, name) => {
    expect(error).toBeInstanceOf(TokenError)
    expect(error).toBeInstanceOf(Error)
    expect(error.code).toBe(code)
    expect(error.status).toBe(status)
    expect(error.name).toBe(name)
    expect(error.stack).toContain(name)
    expect(isTokenError(error)).toBe(true)
  })

  it('recognises errors from another copy of the package by their brand', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('@jetstream/tokens/error')]: true })
    expect(isTokenError(foreign)).toBe(true)
    expect(isTokenError(new Error('x'))).toBe(false)
    expect(isTokenError(null)).toBe(false)
    expect(isTokenError('unauthenticated')).toBe(false)
  })

  it('keeps the cause of a storage failure by name, message and code only', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
      query: 'select * from tokens where token = $1',
      parameters: ['a'.repeat(64)],
    })
    const kept = new StorageUnavailableError('down', { cause }).cause
    expect(kept).toBeInstanceOf(DriverError)
    expect(kept).toMatchObject({ name: 'Error', message: cause.message, code: 'ECONNREFUSED' })
    expect(Object.keys(kept as object)).not.toContain('parameters')
    expect(inspect(kept, { showHidden: true, depth: 10 })).not.toContain('a'.repeat(64))
  })

  it('redacts anything shaped like a hash or a secret from the cause’s message', () => {
    const hash = 'f'.repeat(64)
    const secret = 'Ab3'.repeat(14)
    const cause = new Error(`duplicate key (token)=(${hash}) for ${secret}`)
    const error = new StorageUnavailableError('down', { cause })
    const shown = inspect(error, { showHidden: true, depth: 10 })
    expect(shown).not.toContain(hash)
    expect(shown).not.toContain(secret)
    expect((error.cause as Error).message).toBe('duplicate key (token)=([redacted]) for [redacted]')
  })

  it('redacts a secret or hash joined to a word by `_`, and from a DriverError however it is made', () => {
    const secret = `${'Zg'.repeat(20)}00c0ffee`
    const hash = 'ABCDEF0123'.repeat(6).concat('abcd')
    const cause = new Error(`bad token 1|acme_${secret} at token_hash_${hash}_lock`)
    expect((new StorageUnavailableError('down', { cause }).cause as Error).message).toBe(
      'bad token 1|acme_[redacted] at token_hash_[redacted]_lock',
    )
    // A store author's own DriverError is cleaned too.
    expect(new DriverError('PgError', `leak ${hash}`, '23505').message).toBe('leak [redacted]')
    const given = new StorageUnavailableError('down', {
      cause: new DriverError('PgError', `x ${secret}`, undefined),
    })
    expect((given.cause as Error).message).toBe('x [redacted]')
    // Words are not secrets: a run of letters and digits shorter than 40, or part of a longer word.
    expect(new DriverError('E', 'relation personal_access_tokens does not exist', undefined).message).toBe(
      'relation personal_access_tokens does not exist',
    )
  })

  it('is made from a cause that cannot be printed, so the store’s failure stays a 503', () => {
    const bare = Object.create(null) as object
    const throwing = {
      toString() {
        throw new Error('no')
      },
    }
    for (const cause of [bare, throwing]) {
      const error = new StorageUnavailableError('down', { cause })
      expect(error.status).toBe(503)
      expect((error.cause as Error).message).toBe('[unprintable]')
    }
  })

  it('names the missing abilities', () => {
    const error = new MissingAbilitiesError(['update', 'delete'])
    expect(error.abilities).toEqual(['update', 'delete'])
    expect(error.message).toBe('The token is missing the "update", "delete" abilities.')
    expect(new MissingAbilitiesError(['read']).message).toBe('The token is missing the "read" ability.')
  })

  it('takes its message from the first field error', () => {
    const error = new InvalidInputError({ name: ['The name field is required.'], abilities: ['x'] })
    expect(error.message).toBe('The name field is required.')
    expect(error.errors).toEqual({ name: ['The name field is required.'], abilities: ['x'] })
  })

  it('tells whether a token was refused', () => {
    expect(new UnauthenticatedError().tokenRejected).toBe(false)
    expect(new UnauthenticatedError({ tokenRejected: true }).tokenRejected).toBe(true)
  })
})
