/**
 * Typed errors. Every error the library raises on purpose is a {@link TokenError} with a stable `code` (for
 * programs) and an HTTP `status` hint (for adapters). None of them ever carries a plain-text token or its hash.
 */

// A registry symbol, not a class identity: two installed copies of this package still recognise each other's errors.
const brand = Symbol.for('@jetstream/tokens/error')

/**
 * Stable codes of {@link TokenError}s; adapters put them in response bodies.
 *
 * @example
 * ```ts
 * if (error.code === ('storage_unavailable' satisfies TokenErrorCode)) retryLater()
 * ```
 */
export type TokenErrorCode =
  | 'bad_request'
  | 'not_found'
  | 'unauthenticated'
  | 'missing_abilities'
  | 'forbidden'
  | 'invalid_input'
  | 'storage_unavailable'
  | 'misconfigured'

/**
 * The base of every error this library raises on purpose.
 *
 * Recognise it with {@link isTokenError} rather than `instanceof` when two copies of the package may be installed.
 *
 * @example
 * ```ts
 * try {
 *   await tokens.create('42', '')
 * } catch (error) {
 *   if (isTokenError(error)) console.log(error.status, error.code) // 422 'invalid_input'
 * }
 * ```
 */
export class TokenError extends Error {
  /** A stable, machine-readable code. */
  readonly code: TokenErrorCode
  /** The HTTP status an adapter answers with. */
  readonly status: number

  constructor(code: TokenErrorCode, status: number, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.status = status
    Object.defineProperty(this, brand, { value: true })
  }
}

/**
 * True for any {@link TokenError}, even one thrown by another installed copy of this package.
 *
 * @example
 * ```ts
 * if (isTokenError(error) && error.code === 'storage_unavailable') retryLater()
 * ```
 */
export function isTokenError(value: unknown): value is TokenError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true
}

/**
 * The request itself is malformed, such as a body that is not valid JSON (HTTP 400).
 *
 * @example
 * ```ts
 * throw new BadRequestError('The request body is not valid JSON.')
 * ```
 */
export class BadRequestError extends TokenError {
  constructor(message = 'The request is malformed.', options?: { cause?: unknown }) {
    super('bad_request', 400, message, options)
  }
}

/**
 * The thing asked for does not exist, or is not the caller's (HTTP 404): another user's token reads as unknown.
 *
 * @example
 * ```ts
 * throw new NotFoundError('No such token.')
 * ```
 */
export class NotFoundError extends TokenError {
  constructor(message = 'Not found.') {
    super('not_found', 404, message)
  }
}

/**
 * The request carries no valid credentials (HTTP 401).
 *
 * `tokenRejected` is true when a token was presented and refused, so adapters can answer
 * `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750) instead of a bare challenge.
 *
 * @example
 * ```ts
 * throw new UnauthenticatedError({ tokenRejected: true })
 * ```
 */
export class UnauthenticatedError extends TokenError {
  readonly tokenRejected: boolean

  constructor(options: { tokenRejected?: boolean; message?: string } = {}) {
    super('unauthenticated', 401, options.message ?? 'Unauthenticated.')
    this.tokenRejected = options.tokenRejected ?? false
  }
}

/**
 * The token lacks abilities the action needs (HTTP 403, RFC 6750 `insufficient_scope`).
 *
 * @example
 * ```ts
 * const error = new MissingAbilitiesError(['delete'])
 * error.abilities // ['delete']
 * ```
 */
export class MissingAbilitiesError extends TokenError {
  /** The abilities that were needed and are missing. */
  readonly abilities: readonly string[]

  constructor(abilities: readonly string[]) {
    super(
      'missing_abilities',
      403,
      `The token is missing the ${list(abilities)} abilit${abilities.length === 1 ? 'y' : 'ies'}.`,
    )
    this.abilities = [...abilities]
  }
}

/**
 * A policy refused the action (HTTP 403).
 *
 * @example
 * ```ts
 * throw new ForbiddenError()
 * ```
 */
export class ForbiddenError extends TokenError {
  constructor(message = 'This action is unauthorized.') {
    super('forbidden', 403, message)
  }
}

/**
 * Messages by field name, as Laravel's validator returns them.
 *
 * @example
 * ```ts
 * const errors: FieldErrors = { name: ['The name field is required.'] }
 * ```
 */
export type FieldErrors = Readonly<Record<string, readonly string[]>>

/**
 * Input that cannot be accepted (HTTP 422), with messages by field.
 *
 * @example
 * ```ts
 * const error = new InvalidInputError({ name: ['The name field is required.'] })
 * error.errors.name // ['The name field is required.']
 * ```
 */
export class InvalidInputError extends TokenError {
  readonly errors: FieldErrors

  constructor(errors: FieldErrors) {
    const first = Object.values(errors).flat()[0] ?? 'The given data was invalid.'
    super('invalid_input', 422, first)
    this.errors = errors
  }
}

/**
 * The token store could not answer: the database is down, timed out or failed (HTTP 503). The driver's own error
 * is kept as `cause`. It is never turned into "no such token", which would read as a 401.
 *
 * @example
 * ```ts
 * throw new StorageUnavailableError('The token store timed out after 5000 ms.', { cause: error })
 * ```
 */
export class StorageUnavailableError extends TokenError {
  constructor(message = 'The token store is unavailable.', options?: { cause?: unknown }) {
    super('storage_unavailable', 503, message, options)
  }
}

/**
 * The library was set up wrongly. Thrown when a registry, service or middleware is built, never per request.
 *
 * @example
 * ```ts
 * new PermissionRegistry({ permissions: ['read'], defaults: ['write'] }) // throws MisconfigurationError
 * ```
 */
export class MisconfigurationError extends TokenError {
  constructor(message: string) {
    super('misconfigured', 500, message)
  }
}

function list(items: readonly string[]): string {
  return items.map((item) => `"${item}"`).join(', ')
}
