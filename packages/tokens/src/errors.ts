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
  | 'method_not_allowed'
  | 'conflict'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unauthenticated'
  | 'missing_abilities'
  | 'forbidden'
  | 'session_required'
  | 'invalid_input'
  | 'storage_unavailable'
  | 'too_many_requests'
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

// The errors this package built where a store or a limiter failed, message and all: the span status lends their
// messages and no other error's, since a driver's or an app's own (even of these classes) may hold anything.
const writtenHere = new WeakSet<Error>()

/**
 * Marks an error this package built itself, so telemetry may show its message. Internal to the package; the main
 * entry does not export it.
 *
 * @example
 * ```ts
 * throw ownMessage(new StorageUnavailableError('The token store failed to find.', { cause: error }))
 * ```
 */
export function ownMessage<E extends Error>(error: E): E {
  writtenHere.add(error)
  return error
}

/**
 * Whether {@link ownMessage} marked this error.
 *
 * @example
 * ```ts
 * if (hasOwnMessage(error)) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message })
 * ```
 */
export function hasOwnMessage(error: unknown): error is Error {
  return error instanceof Error && writtenHere.has(error)
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
  /** The realm of its `WWW-Authenticate` challenge, when the guard that refused has one; else the answer's. */
  readonly realm: string | undefined

  constructor(options: { tokenRejected?: boolean; message?: string; realm?: string | undefined } = {}) {
    super('unauthenticated', 401, options.message ?? 'Unauthenticated.')
    this.tokenRejected = options.tokenRejected ?? false
    this.realm = options.realm
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
  /** The realm of its `WWW-Authenticate` challenge, as for {@link UnauthenticatedError.realm}. */
  readonly realm: string | undefined

  constructor(abilities: readonly string[], options: { realm?: string | undefined } = {}) {
    super(
      'missing_abilities',
      403,
      `The token is missing the ${list(abilities)} abilit${abilities.length === 1 ? 'y' : 'ies'}.`,
    )
    this.abilities = [...abilities]
    this.realm = options.realm
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
 * A route that only the app's own session may use was called with a bearer token (HTTP 403): managing tokens is
 * first-party, as in Jetstream, unless the app opts in.
 *
 * @example
 * ```ts
 * throw new SessionRequiredError()
 * ```
 */
export class SessionRequiredError extends TokenError {
  constructor(
    message = 'Tokens are managed from the app’s own signed-in session; an API token cannot manage tokens here.',
  ) {
    super('session_required', 403, message)
  }
}

/**
 * The route exists but not for this method (HTTP 405); `allow` lists the methods it takes.
 *
 * @example
 * ```ts
 * throw new MethodNotAllowedError(['GET', 'POST'])
 * ```
 */
export class MethodNotAllowedError extends TokenError {
  readonly allow: readonly string[]

  constructor(allow: readonly string[]) {
    super('method_not_allowed', 405, `This route takes ${allow.join(', ')} only.`)
    this.allow = [...allow]
  }
}

/**
 * The thing changed while the request was acting on it, every time it was tried (HTTP 409): trying again later
 * acts on it as it is then.
 *
 * @example
 * ```ts
 * throw new ConflictError('The token kept changing while it was rotated: try again.')
 * ```
 */
export class ConflictError extends TokenError {
  constructor(message = 'The resource changed while the request acted on it: try again.') {
    super('conflict', 409, message)
  }
}

/**
 * The request body is larger than the route accepts (HTTP 413).
 *
 * @example
 * ```ts
 * throw new PayloadTooLargeError(102_400)
 * ```
 */
export class PayloadTooLargeError extends TokenError {
  /** `limit`: the bound in bytes, when known (a framework's own parser may not say). */
  constructor(limit?: number) {
    super(
      'payload_too_large',
      413,
      limit === undefined
        ? 'The request body is too large.'
        : `The request body is larger than ${limit} bytes.`,
    )
  }
}

/**
 * The request body is in a media type, charset or content encoding the route does not read (HTTP 415).
 *
 * @example
 * ```ts
 * throw new UnsupportedMediaTypeError('Send the body as application/json in UTF-8.')
 * ```
 */
export class UnsupportedMediaTypeError extends TokenError {
  constructor(message = 'Send the body as application/json in UTF-8, without a content encoding.') {
    super('unsupported_media_type', 415, message)
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
 * The token store could not answer: the database is down, timed out or failed (HTTP 503). It is never turned into
 * "no such token", which would read as a 401.
 *
 * Its `cause` keeps the driver's error by name, message and code only: a driver's error may carry the query and
 * its parameters (a token's hash among them), and this error is the kind that gets logged.
 *
 * @example
 * ```ts
 * throw new StorageUnavailableError('The token store timed out after 5000 ms.', { cause: error })
 * ```
 */
export class StorageUnavailableError extends TokenError {
  constructor(message = 'The token store is unavailable.', options?: { cause?: unknown }) {
    super(
      'storage_unavailable',
      503,
      message,
      options && 'cause' in options ? { cause: driverError(options.cause) } : undefined,
    )
  }
}

/**
 * A rate limit is spent (HTTP 429): the answer carries `Retry-After` and the IETF `RateLimit` and
 * `RateLimit-Policy` headers, named after the policy that refused (`token`, `session`, `failures`, or
 * `ability:<name>`).
 *
 * @example
 * ```ts
 * throw new TooManyRequestsError({ policy: 'token', limit: 60, window: 60, retryAfter: 12 })
 * ```
 */
export class TooManyRequestsError extends TokenError {
  /**
   * Which limit refused: `token` (per token), `session` (per signed-in user), `failures` (per client address), or
   * `ability:<name>` (that ability's, per token).
   */
  readonly policy: string
  /** Requests allowed per window. */
  readonly limit: number
  /** The window, in seconds. */
  readonly window: number
  /** Whole seconds until a request is allowed again (at least 1). */
  readonly retryAfter: number

  constructor(
    limit: { policy: string; limit: number; window: number; retryAfter: number },
    message = 'Too many requests: wait before trying again.',
  ) {
    super('too_many_requests', 429, message)
    this.policy = limit.policy
    this.limit = limit.limit
    this.window = limit.window
    this.retryAfter = Math.max(1, Math.ceil(limit.retryAfter))
  }
}

/**
 * What a {@link StorageUnavailableError} keeps of a driver's error: its name, message and SQLSTATE-like `code`.
 *
 * @example
 * ```ts
 * new StorageUnavailableError('down', { cause: pgError }).cause // DriverError { name, message, code }
 * ```
 */
export class DriverError extends Error {
  /** The driver's error code (a SQLSTATE such as `57P01`, or `ECONNREFUSED`), when it had one. */
  readonly code: string | undefined

  /** Runs shaped like a hash or a secret are redacted from `message`, however the error is made. */
  constructor(name: string, message: string, code: string | undefined) {
    super(message.replace(SECRET_LIKE, '[redacted]'))
    this.name = name
    this.code = code
  }
}

// A hash is 64 hex characters; a secret is 40 or more letters and digits. Neither belongs in a message. Bounded by
// what is not a letter or digit rather than `\b`, for which `_` is a letter: `acme_<secret>` (a prefixed plain
// text) and `hash_<hash>` have no `\b` before the run.
const SECRET_LIKE = /(?<![A-Za-z0-9])(?:[0-9a-f]{64}|[A-Za-z0-9]{40,})(?![A-Za-z0-9])/gi

function driverError(cause: unknown): DriverError | undefined {
  if (cause === undefined || cause === null) return undefined
  // Its own constructor redacted its message.
  if (cause instanceof DriverError) return cause
  const error = cause as { name?: unknown; message?: unknown; code?: unknown }
  return new DriverError(
    typeof error.name === 'string' ? error.name : 'Error',
    typeof error.message === 'string' ? error.message : printed(cause),
    typeof error.code === 'string' || typeof error.code === 'number' ? String(error.code) : undefined,
  )
}

// What a driver rejected with, as text; something that cannot be printed (no prototype, a `toString` that throws)
// must not turn the store's failure into the constructor's TypeError, a 500 in place of the 503.
function printed(value: unknown): string {
  try {
    return String(value)
  } catch {
    return '[unprintable]'
  }
}

/**
 * The library was set up wrongly. Thrown when a registry, service or middleware is built, or, for what shows only
 * once a request runs (no `auth` before the routes, a session user without an `id`), then: answered as a bare 500
 * and reported, never as the client's fault.
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
