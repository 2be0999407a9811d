import {
  type InvalidInputError,
  isTokenError,
  type MethodNotAllowedError,
  type MissingAbilitiesError,
  type TokenErrorCode,
  type TooManyRequestsError,
  type UnauthenticatedError,
} from './errors.js'

/**
 * A whole HTTP answer, built by the core so that every adapter sends the same bytes: status, headers (lower-case
 * names, `content-type` and `content-length` included when there is a body) and the body text. An adapter writes
 * it as it is and adds nothing.
 *
 * @example
 * ```ts
 * const answer = errorAnswer(new UnauthenticatedError())
 * answer.status // 401
 * answer.headers['www-authenticate'] // 'Bearer realm="api"'
 * answer.body // '{"message":"Unauthenticated.","code":"unauthenticated"}'
 * ```
 */
export class HttpAnswer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** The body as text; '' for none (a 204). */
  readonly body: string

  constructor(status: number, headers: Readonly<Record<string, string>>, body: string) {
    this.status = status
    this.headers = headers
    this.body = body
  }
}

/**
 * What a JSON error body holds: `{ message, code }`, with `errors` by field for 422 and the missing `abilities`
 * for a 403 `missing_abilities`.
 *
 * @example
 * ```ts
 * const body = JSON.parse(answer.body) as ErrorBody
 * ```
 */
export interface ErrorBody {
  readonly message: string
  readonly code: string
  readonly errors?: Readonly<Record<string, readonly string[]>>
  readonly abilities?: readonly string[]
}

const encoder = new TextEncoder()

/**
 * A JSON answer: the value serialised once, `content-type: application/json` and its byte length.
 *
 * @example
 * ```ts
 * jsonAnswer(201, { token, plainTextToken })
 * ```
 */
export function jsonAnswer(
  status: number,
  value: unknown,
  headers: Readonly<Record<string, string>> = {},
): HttpAnswer {
  const body = JSON.stringify(value)
  return new HttpAnswer(
    status,
    {
      ...headers,
      'content-type': 'application/json',
      'content-length': String(encoder.encode(body).byteLength),
    },
    body,
  )
}

/** An answer without a body (204, or a HEAD request's). */
export const noContent: HttpAnswer = new HttpAnswer(204, {}, '')

/**
 * The one mapping from errors to HTTP that every adapter uses, so they cannot drift apart:
 * - a {@link TokenError}: its status and `{ message, code }` (+ `errors` by field for 422, `abilities` for 403
 *   `missing_abilities`, `Allow` for 405);
 * - 401 with `WWW-Authenticate: Bearer realm="…"`, and `error="invalid_token"` when a token was refused (RFC 6750);
 * - 403 for missing abilities with `error="insufficient_scope"` and `scope="…"`;
 * - a client error raised by a framework's body parser (`expose: true` and a 4xx `status`, as `http-errors` makes
 *   them): 400, 413 or 415 with the matching code, never a 500;
 * - anything else: 500 with a fixed message. No stack, no cause, no secret ever reaches a body.
 *
 * The realm is the error's own (set by the guard that refused), else `options.realm`, else `api`.
 *
 * @example
 * ```ts
 * const { status, headers, body } = errorAnswer(error, { realm: 'api' })
 * return new Response(body, { status, headers })
 * ```
 */
export function errorAnswer(error: unknown, options: { readonly realm?: string } = {}): HttpAnswer {
  if (!isTokenError(error)) {
    const client = clientError(error)
    return client
      ? jsonAnswer(client.status, { message: client.message, code: client.code })
      : jsonAnswer(500, { message: 'Server Error', code: 'server_error' })
  }
  const headers: Record<string, string> = {}
  const body: { -readonly [K in keyof ErrorBody]: ErrorBody[K] } = {
    message: error.message,
    code: error.code,
  }
  const realm = () => `realm="${quoted((error as { realm?: string }).realm ?? options.realm ?? 'api')}"`
  switch (error.code) {
    case 'unauthenticated':
      headers['www-authenticate'] = (error as UnauthenticatedError).tokenRejected
        ? `Bearer ${realm()}, error="invalid_token", error_description="The access token is invalid or expired."`
        : `Bearer ${realm()}`
      break
    case 'missing_abilities': {
      const abilities = (error as MissingAbilitiesError).abilities
      headers['www-authenticate'] =
        `Bearer ${realm()}, error="insufficient_scope", scope="${quoted(abilities.join(' '))}"`
      body.abilities = abilities
      break
    }
    case 'invalid_input':
      body.errors = (error as InvalidInputError).errors
      break
    case 'method_not_allowed':
      headers.allow = (error as MethodNotAllowedError).allow.join(', ')
      break
    case 'too_many_requests': {
      // draft-ietf-httpapi-ratelimit-headers: the policy (quota q per window w) and what is left (r) until reset (t).
      const { policy, limit, window, retryAfter } = error as TooManyRequestsError
      headers['retry-after'] = String(retryAfter)
      headers['ratelimit-policy'] = `"${policy}";q=${limit};w=${window}`
      headers.ratelimit = `"${policy}";r=0;t=${retryAfter}`
      break
    }
  }
  return jsonAnswer(error.status, body, headers)
}

const CLIENT_ERRORS: Readonly<Record<number, { code: TokenErrorCode; message: string }>> = {
  413: { code: 'payload_too_large', message: 'The request body is too large.' },
  415: {
    code: 'unsupported_media_type',
    message: 'Send the body as application/json in UTF-8, without a content encoding.',
  },
}

// http-errors' convention (Express's and Koa's body parsers): `expose` marks an error the client caused.
function clientError(error: unknown): { status: number; code: TokenErrorCode; message: string } | null {
  const candidate = error as { expose?: unknown; status?: unknown; statusCode?: unknown } | null
  if (typeof candidate !== 'object' || candidate === null || candidate.expose !== true) return null
  const status = Number(candidate.status ?? candidate.statusCode)
  if (!(status >= 400 && status < 500)) return null
  const known = CLIENT_ERRORS[status]
  return known
    ? { status, ...known }
    : { status: 400, code: 'bad_request', message: 'The request is malformed.' }
}

// A quoted-string in an HTTP header: backslash and double quote escaped, control characters dropped.
function quoted(text: string): string {
  return text.replace(/[\p{Cc}]/gu, '').replace(/["\\]/g, '\\$&')
}
