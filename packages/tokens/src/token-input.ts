import { InvalidInputError } from './errors.js'
import type { PermissionRegistry } from './permission-registry.js'
import type { OwnerInput, TokenOwner } from './token-owner.js'
import type { TokenMetadata } from './token-store.js'

// The checks on what callers hand the token service, each raising InvalidInputError with Laravel-style messages.

const MAX_LENGTH = 255
// Control characters and lone surrogates have no place in a name or an id: PostgreSQL cannot store NUL in text, and
// UTF-8 has no form for a lone surrogate (drivers write U+FFFD instead, so `x\ud800` and `x\udbff` would be stored
// as one owner id).
const UNSTORABLE = /[\p{Cc}\p{Cs}]/u
// What PostgreSQL's json and jsonb refuse in a string or a key.
const UNSTORABLE_IN_JSON = /[\0\p{Cs}]/u

/**
 * A token name: a string, trimmed, 1 to 255 characters (counted as Unicode code points), no control characters or
 * lone surrogates.
 *
 * @example
 * ```ts
 * tokenName('  CI deploy ') // 'CI deploy'
 * tokenName('')             // throws InvalidInputError { name: ['The name field is required.'] }
 * ```
 */
export function tokenName(input: unknown): string {
  if (typeof input !== 'string') {
    throw invalid(
      'name',
      input === undefined || input === null
        ? 'The name field is required.'
        : 'The name field must be a string.',
    )
  }
  const name = input.trim()
  if (name === '') throw invalid('name', 'The name field is required.')
  if (codePoints(name) > MAX_LENGTH)
    throw invalid('name', `The name field must not be greater than ${MAX_LENGTH} characters.`)
  if (UNSTORABLE.test(name))
    throw invalid('name', 'The name field must not contain control characters or lone surrogates.')
  return name
}

/**
 * An owner in its `{ type, id }` form; a bare id gets `defaultType`.
 *
 * @example
 * ```ts
 * tokenOwner(42, 'user')                   // { type: 'user', id: '42' }
 * tokenOwner({ type: 'team', id: '7' }, 'user') // { type: 'team', id: '7' }
 * ```
 */
export function tokenOwner(input: OwnerInput, defaultType: string): TokenOwner {
  const given = typeof input === 'object' && input !== null ? input : { id: input }
  const type = given.type ?? defaultType
  const id = ownerId(given.id)
  if (typeof type !== 'string' || type === '' || codePoints(type) > MAX_LENGTH || UNSTORABLE.test(type)) {
    throw invalid(
      'owner',
      'The owner type must be 1 to 255 characters without control characters or lone surrogates.',
    )
  }
  if (id === null) {
    throw invalid(
      'owner',
      'The owner id must be a safe integer or 1 to 255 characters without control characters or lone surrogates.',
    )
  }
  return { type, id }
}

/**
 * Abilities for a new or updated token: each a defined permission, a scope the registry allows, or `'*'` when
 * allowed; no duplicates, order kept. Without a registry any non-empty name is accepted.
 *
 * @example
 * ```ts
 * tokenAbilities(['read', 'read'], registry, false) // ['read']
 * tokenAbilities(['fly'], registry, false)          // throws InvalidInputError { abilities: [...] }
 * ```
 */
export function tokenAbilities(
  input: unknown,
  registry: PermissionRegistry | null,
  allowWildcard: boolean,
): string[] {
  if (!Array.isArray(input) || input.some((item) => typeof item !== 'string')) {
    throw invalid('abilities', 'The abilities field must be a list of names.')
  }
  const abilities = [...new Set(input as string[])]
  const unknown = abilities.filter((ability) =>
    ability === '*'
      ? !allowWildcard
      : registry
        ? !registry.grants(ability)
        : ability === '' || codePoints(ability) > MAX_LENGTH || UNSTORABLE.test(ability),
  )
  if (unknown.length > 0) {
    throw invalid(
      'abilities',
      `These abilities are not defined: ${unknown.map((a) => JSON.stringify(a)).join(', ')}.`,
    )
  }
  return abilities
}

// The first instant a four-digit year cannot write: PostgreSQL's timestamps, Laravel's and most stores stop here,
// so every store gets the same 422 instead of some a database error.
const YEAR_10000 = Date.UTC(10_000, 0, 1)

/**
 * Whether `minutes` after `start` (milliseconds since the epoch) is still before the year 10000: a date every store
 * can keep.
 *
 * @example
 * ```ts
 * endsBeforeYear10000(Date.now(), 60)   // true
 * endsBeforeYear10000(Date.now(), 1e12) // false
 * ```
 */
export function endsBeforeYear10000(start: number, minutes = 0): boolean {
  return start + minutes * 60_000 < YEAR_10000
}

/**
 * An expiry date for a new token: a valid date after `now` and before the year 10000, or null.
 *
 * @example
 * ```ts
 * tokenExpiry(new Date(Date.now() + 3600_000), new Date()) // that date
 * tokenExpiry(new Date(0), new Date())                     // throws InvalidInputError
 * ```
 */
export function tokenExpiry(input: unknown, now: Date): Date | null {
  if (input === undefined || input === null) return null
  if (!(input instanceof Date) || Number.isNaN(input.getTime()))
    throw invalid('expiresAt', 'The expires at field must be a valid date.')
  if (input.getTime() <= now.getTime())
    throw invalid('expiresAt', 'The expires at field must be a date after now.')
  if (!endsBeforeYear10000(input.getTime()))
    throw invalid('expiresAt', 'The expires at field must be a date before the year 10000.')
  return new Date(input)
}

/**
 * A rotation's grace period, in minutes: a number, 0 or more, that ends before the year 10000 (past it, the
 * old secret's end would be no date a store can keep).
 *
 * @example
 * ```ts
 * tokenGrace(60, new Date())  // 60
 * tokenGrace(1e12, new Date()) // throws InvalidInputError
 * ```
 */
export function tokenGrace(input: unknown, now: Date): number {
  if (typeof input !== 'number' || !(Number.isFinite(input) && input >= 0)) {
    throw invalid('grace', 'The grace field must be a number of minutes, 0 or more.')
  }
  if (!endsBeforeYear10000(now.getTime(), input)) {
    throw invalid('grace', 'The grace field must end before the year 10000.')
  }
  return input
}

/**
 * Metadata for a new token: a JSON object of at most `limit` bytes as JSON text (UTF-8), no NUL or lone surrogate
 * in its keys and strings (PostgreSQL's json refuses both), returned as a fresh copy (so what the caller keeps
 * cannot change what is stored), or undefined for none.
 *
 * @example
 * ```ts
 * tokenMetadata({ environment: 'ci' }, 4096) // { environment: 'ci' }
 * tokenMetadata([1, 2], 4096)               // throws InvalidInputError { metadata: [...] }
 * ```
 */
export function tokenMetadata(input: unknown, limit: number): TokenMetadata | undefined {
  if (input === undefined || input === null) return undefined
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw invalid('metadata', 'The metadata field must be a JSON object.')
  }
  let text: string
  try {
    text = JSON.stringify(input)
  } catch {
    throw invalid('metadata', 'The metadata field must be a JSON object.')
  }
  if (new TextEncoder().encode(text).length > limit) {
    throw invalid('metadata', `The metadata field must not be greater than ${limit} bytes as JSON.`)
  }
  let storable = true
  const copy = JSON.parse(text, (key, value: unknown) => {
    if (UNSTORABLE_IN_JSON.test(key) || (typeof value === 'string' && UNSTORABLE_IN_JSON.test(value))) {
      storable = false
    }
    return value
  }) as TokenMetadata
  if (!storable) {
    throw invalid('metadata', 'The metadata field must not contain NUL characters or lone surrogates.')
  }
  return copy
}

function ownerId(id: unknown): string | null {
  if (typeof id === 'bigint') return id.toString()
  if (typeof id === 'number') return Number.isSafeInteger(id) ? String(id) : null
  if (typeof id === 'string' && id !== '' && codePoints(id) <= MAX_LENGTH && !UNSTORABLE.test(id)) return id
  return null
}

function codePoints(text: string): number {
  let count = 0
  for (const _ of text) count++
  return count
}

function invalid(field: string, message: string): InvalidInputError {
  return new InvalidInputError({ [field]: [message] })
}
