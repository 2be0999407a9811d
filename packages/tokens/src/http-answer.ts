import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  type InvalidInputError,
  isTokenError,
  type MethodNotAllowedError,
  type MissingAbilitiesError,
  NotFoundError,
  PayloadTooLargeError,
  TokenError,
  type TooManyRequestsError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
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

/** The realm of a challenge when neither the error nor the answer names one. */
export const DEFAULT_REALM = 'api'

/** An answer without a body (204, or a HEAD request's). */
export const noContent: HttpAnswer = new HttpAnswer(204, {}, '')

/**
 * The one mapping from errors to HTTP that every adapter uses, so they cannot drift apart:
 * - a {@link TokenError}: its status and `{ message, code }` (+ `errors` by field for 422, `abilities` for 403
 *   `missing_abilities`, `Allow` for 405);
 * - 401 with `WWW-Authenticate: Bearer realm="…"`, and `error="invalid_token"` when a token was refused (RFC 6750);
 * - 403 for missing abilities with `error="insufficient_scope"` and `scope="…"`;
 * - a client error raised by a framework's body parser or by the app (`expose: true` and a 4xx `status`, as
 *   `http-errors` makes them, and Koa's `ctx.throw`): its own status, never a 500, with a fixed message (a parser's
 *   may quote the body) and the matching code (`bad_request` where none matches), and its own `headers` (a
 *   `Retry-After`, say) as Koa's and Express's own handlers send them;
 * - anything else, a {@link MisconfigurationError} that reached a request included: 500 `server_error` with a
 *   fixed message. No stack, no cause, no secret ever reaches a body.
 *
 * The realm is the error's own (set by the guard that refused), else `options.realm`, else `api`.
 *
 * @example
 * ```ts
 * const { status, headers, body } = errorAnswer(error, { realm: 'api' })
 * return new Response(body, { status, headers })
 * ```
 */
export function errorAnswer(
  error: unknown,
  options: { readonly realm?: string | undefined } = {},
): HttpAnswer {
  if (isRefusal(error)) return tokenErrorAnswer(error, options)
  const client = clientError(error)
  if (client === null) return jsonAnswer(500, { message: 'Server Error', code: 'server_error' })
  return tokenErrorAnswer(client, options, headersOf(error as object))
}

// `given`: the app's own headers, which win over this library's of the same name (a `WWW-Authenticate: Basic` of
// its own, say), not over the body's type and length.
function tokenErrorAnswer(
  error: TokenError,
  options: { readonly realm?: string | undefined },
  given: Readonly<Record<string, string>> = {},
): HttpAnswer {
  const headers: Record<string, string> = {}
  const body: { -readonly [K in keyof ErrorBody]: ErrorBody[K] } = {
    message: error.message,
    code: error.code,
  }
  const realm = () =>
    `realm="${quoted((error as { realm?: string }).realm ?? options.realm ?? DEFAULT_REALM)}"`
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
      const { policy, limit, window, retryAfter } = error as Partial<TooManyRequestsError>
      // An app's own 429 names no limit of this library's: there is nothing to put in these headers.
      if (policy === undefined) break
      headers['retry-after'] = String(retryAfter)
      headers['ratelimit-policy'] = `"${quoted(policy)}";q=${limit};w=${window}`
      headers.ratelimit = `"${quoted(policy)}";r=0;t=${retryAfter}`
      break
    }
  }
  return jsonAnswer(error.status, body, { ...headers, ...given })
}

/**
 * Options of every adapter's `errorHandler()`.
 *
 * @example
 * ```ts
 * app.use(errorHandler({ realm: 'acme', report: (error) => logger.error(error) } satisfies ErrorHandlerOptions))
 * ```
 */
export interface ErrorHandlerOptions {
  /** The realm of a challenge when the error names none; default `api`. */
  readonly realm?: string
  /**
   * Told of each error answered 500 that this library did not raise: the app's own failure, which its answer (a
   * bare 500) says nothing of. Default: what the framework does with one, `console.error` in Hono and Express, the
   * app's `error` event in Koa. If it throws, the answer stays the same and the error goes to `console.error`.
   */
  readonly report?: (error: unknown) => void
}

/**
 * What an adapter's `errorHandler()` answers to an error that reached it: {@link errorAnswer}'s answer, and the
 * app's own failures (the 500s this library did not raise) handed to `options.report`, else to `report`, the
 * framework's own way of reporting them (default `console.error`, as Hono's and Express's own handlers print what
 * they answer 500), so that none is answered and forgotten.
 *
 * @example
 * ```ts
 * const answer = answerError(error, options, (failure) => ctx.app.emit('error', failure, ctx))
 * ```
 */
export function answerError(
  error: unknown,
  options: ErrorHandlerOptions,
  report: (error: unknown) => void = reportToConsole,
): HttpAnswer {
  const answer = errorAnswer(error, options)
  if (answer.status === 500 && !isRefusal(error)) {
    try {
      ;(options.report ?? report)(error)
    } catch {
      // A report that fails must not change the answer (each framework would make its own 500 of the throw), nor
      // lose the failure: it goes where the framework's own handler would print it.
      reportToConsole(error)
    }
  }
  return answer
}

/**
 * Whether `error` is this library's refusal of the request (a 401, a 403, a 503…), which an adapter may answer at
 * once with {@link errorAnswer}; anything else (the app's failure, a misconfiguration) goes to the framework's own
 * error handling, where it is reported.
 *
 * @example
 * ```ts
 * next().catch((error) => { if (!isRefusal(error)) throw error; send(ctx, errorAnswer(error)) })
 * ```
 */
export function isRefusal(error: unknown): error is TokenError {
  // A misconfiguration that shows only once a request runs (the token routes' user without an `id`, say) is the
  // server failing: answered as any 500, its message (which names the app's setup) for the report, not the client.
  return isTokenError(error) && error.code !== 'misconfigured'
}

function reportToConsole(error: unknown): void {
  console.error(error)
}

// http-errors' convention (Express's and Koa's body parsers, Koa's `ctx.throw`): `expose` marks an error the client
// caused. It is answered as this library's error of the same status, with that error's fixed message (a parser's
// may quote the body); a status this library has no error for keeps its number, as a `bad_request`.
function clientError(error: unknown): TokenError | null {
  const candidate = error as { expose?: unknown; status?: unknown; statusCode?: unknown } | null
  if (typeof candidate !== 'object' || candidate === null || candidate.expose !== true) return null
  const status = Number(candidate.status ?? candidate.statusCode)
  if (!(status >= 400 && status < 500)) return null
  switch (status) {
    case 400:
      return new BadRequestError()
    case 401:
      return new UnauthenticatedError()
    case 403:
      return new ForbiddenError()
    case 404:
      return new NotFoundError()
    case 409:
      return new ConflictError()
    case 413:
      return new PayloadTooLargeError()
    case 415:
      return new UnsupportedMediaTypeError()
    case 429:
      return new TokenError('too_many_requests', 429, 'Too many requests: wait before trying again.')
    default:
      return new TokenError('bad_request', status, 'The request is malformed.')
  }
}

// http-errors' `headers` (`ctx.throw(429, { headers: { 'Retry-After': '30' } })`), names lower-cased as every
// answer's are. Only text and numbers, under valid names, with values a header can carry: anything else is left out,
// since a framework would throw on it while answering, and the answer would be a 500.
function headersOf(error: object): Record<string, string> {
  const given = (error as { headers?: unknown }).headers
  const headers: Record<string, string> = {}
  if (typeof given !== 'object' || given === null) return headers
  for (const [name, value] of Object.entries(given)) {
    const text = typeof value === 'number' ? String(value) : value
    if (typeof text === 'string' && HEADER_NAME.test(name) && HEADER_VALUE.test(text)) {
      headers[name.toLowerCase()] = text.trim()
    }
  }
  return headers
}

// RFC 9110's token, and the field-value bytes Node's http module and the Fetch API's Headers both accept.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

// A quoted-string in an HTTP header: control characters dropped, backslash and double quote escaped, and what is
// not ASCII percent-encoded as UTF-8 (`投稿` → `%E6%8A%95%E7%A8%BF`): Node and the Fetch API refuse other
// characters in a header (a 500 in place of the answer), and a permission name may be any word. `%` itself is
// encoded too, so `a%E6` and `aæ` stay two names.
function quoted(text: string): string {
  return text
    .replace(/\p{Cc}/gu, '')
    .replace(/["\\]/g, '\\$&')
    .replace(/[^\x20-\x24\x26-\x7e]+/gu, (run) => encodeURIComponent(run.replace(/\p{Cs}/gu, '\ufffd')))
}
