import { isTokenError, type MissingAbilitiesError, type UnauthenticatedError } from './errors.js'

/**
 * An error as HTTP, ready for any framework to send.
 *
 * @example
 * ```ts
 * const { status, headers, body }: ErrorResponse = errorResponse(new UnauthenticatedError())
 * ```
 */
export interface ErrorResponse {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: {
    readonly message: string
    readonly code: string
    /** Messages by field, for 422. */
    readonly errors?: Readonly<Record<string, readonly string[]>>
    /** The abilities the token lacks, for a 403 `missing_abilities`. */
    readonly abilities?: readonly string[]
  }
}

/**
 * The one mapping from errors to HTTP that every adapter uses, so they cannot drift apart:
 * - a {@link TokenError}: its status, `{ message, code }` (+ `errors` by field for 422);
 * - 401 with `WWW-Authenticate: Bearer realm="…"`, and `error="invalid_token"` when a token was refused (RFC 6750);
 * - 403 for missing abilities with `error="insufficient_scope"` and `scope="…"`;
 * - anything else: 500 with a fixed message. No stack, no cause, no secret ever reaches a body.
 *
 * @example
 * ```ts
 * const { status, headers, body } = errorResponse(error, { realm: 'api' })
 * return new Response(JSON.stringify(body), { status, headers: { ...headers, 'content-type': 'application/json' } })
 * ```
 */
export function errorResponse(error: unknown, options: { realm?: string } = {}): ErrorResponse {
  if (!isTokenError(error)) {
    return { status: 500, headers: {}, body: { message: 'Server Error', code: 'server_error' } }
  }
  const realm = `realm="${quoted(options.realm ?? 'api')}"`
  const headers: Record<string, string> = {}
  if (error.code === 'unauthenticated') {
    const rejected = (error as UnauthenticatedError).tokenRejected
    headers['www-authenticate'] = rejected
      ? `Bearer ${realm}, error="invalid_token", error_description="The access token is invalid or expired."`
      : `Bearer ${realm}`
  } else if (error.code === 'missing_abilities') {
    const scope = (error as MissingAbilitiesError).abilities.join(' ')
    headers['www-authenticate'] = `Bearer ${realm}, error="insufficient_scope", scope="${quoted(scope)}"`
  }
  const fieldErrors = (error as { errors?: Record<string, readonly string[]> }).errors
  return {
    status: error.status,
    headers,
    body: {
      message: error.message,
      code: error.code,
      ...(error.code === 'invalid_input' && fieldErrors ? { errors: fieldErrors } : {}),
      ...(error.code === 'missing_abilities'
        ? { abilities: (error as MissingAbilitiesError).abilities }
        : {}),
    },
  }
}

// A quoted-string in an HTTP header: backslash and double quote escaped, control characters dropped.
function quoted(text: string): string {
  return text.replace(/[\p{Cc}]/gu, '').replace(/["\\]/g, '\\$&')
}
