import { describe, expect, it, vi } from 'vitest'
import {
  BadRequestError,
  ConflictError,
  ForbiddenError,
  InvalidInputError,
  MethodNotAllowedError,
  MisconfigurationError,
  MissingAbilitiesError,
  NotFoundError,
  PayloadTooLargeError,
  SessionRequiredError,
  StorageUnavailableError,
  type TokenError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
} from './errors.js'

import { answerError, errorAnswer, HttpAnswer, isRefusal, jsonAnswer } from './http-answer.js'

const SECRET = '7|Xq3kP9sLm2Vb8Nc4Rt6Yw1Za5Ue0Io7Hg3Jf2Dd9a1b2c3d4'

/**
 * The answer as a client reads it: the body parsed, the headers apart from the two every JSON answer has (checked
 * on their own below).
 */
function errorResponse(error: unknown, options: { realm?: string } = {}) {
  const answer = errorAnswer(error, options)
  const { 'content-type': type, 'content-length': length, ...headers } = answer.headers
  expect(type).toBe('application/json')
  expect(length).toBe(String(Buffer.byteLength(answer.body)))
  return { status: answer.status, headers, body: JSON.parse(answer.body) }
}

/** Everything a client would receive, as the text it would see. */
function serialized(response: ReturnType<typeof errorResponse>): string {
  return JSON.stringify({ status: response.status, headers: response.headers, body: response.body })
}

describe('errorAnswer: TokenErrors', () => {
  it.each<[string, TokenError, number, string]>([
    ['BadRequestError', new BadRequestError('The request body is not valid JSON.'), 400, 'bad_request'],
    ['NotFoundError', new NotFoundError('No such token.'), 404, 'not_found'],
    ['UnauthenticatedError', new UnauthenticatedError(), 401, 'unauthenticated'],
    ['MissingAbilitiesError', new MissingAbilitiesError(['delete']), 403, 'missing_abilities'],
    ['ForbiddenError', new ForbiddenError(), 403, 'forbidden'],
    [
      'InvalidInputError',
      new InvalidInputError({ name: ['The name field is required.'] }),
      422,
      'invalid_input',
    ],
    ['StorageUnavailableError', new StorageUnavailableError(), 503, 'storage_unavailable'],
  ])('maps a %s to its status, code and message', (_, error, status, code) => {
    const response = errorResponse(error)
    expect(response.status).toBe(status)
    expect(response.body.code).toBe(code)
    expect(response.body.message).toBe(error.message)
  })

  it('gives a bare body (message and code only) to errors without extra fields', () => {
    for (const error of [
      new BadRequestError(),
      new NotFoundError(),
      new ForbiddenError('Not your post.'),
      new StorageUnavailableError(),
      new MisconfigurationError('bad'),
    ]) {
      const response = errorResponse(error)
      expect(Object.keys(response.body).sort()).toEqual(['code', 'message'])
      expect(response.headers).toEqual({})
    }
  })

  it('answers a 401 with a bare Bearer challenge when no token was refused', () => {
    const response = errorResponse(new UnauthenticatedError())
    expect(response).toEqual({
      status: 401,
      headers: { 'www-authenticate': 'Bearer realm="api"' },
      body: { message: 'Unauthenticated.', code: 'unauthenticated' },
    })
  })

  it('adds error="invalid_token" to the 401 challenge when a token was refused (RFC 6750)', () => {
    const response = errorResponse(new UnauthenticatedError({ tokenRejected: true }))
    expect(response.status).toBe(401)
    expect(response.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="invalid_token", error_description="The access token is invalid or expired."',
    )
    expect(response.body).toEqual({ message: 'Unauthenticated.', code: 'unauthenticated' })
  })

  it('keeps a custom 401 message in the body', () => {
    const response = errorResponse(new UnauthenticatedError({ message: 'Sign in first.' }))
    expect(response.body.message).toBe('Sign in first.')
  })

  it('answers missing abilities with insufficient_scope, the scope, and the abilities in the body', () => {
    const response = errorResponse(new MissingAbilitiesError(['a', 'b']))
    expect(response.status).toBe(403)
    expect(response.headers).toEqual({
      'www-authenticate': 'Bearer realm="api", error="insufficient_scope", scope="a b"',
    })
    expect(response.body).toEqual({
      message: 'The token is missing the "a", "b" abilities.',
      code: 'missing_abilities',
      abilities: ['a', 'b'],
    })
  })

  it('gives a policy refusal (ForbiddenError) no challenge and no abilities', () => {
    const response = errorResponse(new ForbiddenError())
    expect(response).toEqual({
      status: 403,
      headers: {},
      body: { message: 'This action is unauthorized.', code: 'forbidden' },
    })
  })

  it('puts the field errors of a 422 in body.errors', () => {
    const errors = {
      name: ['The name field is required.'],
      expiresAt: ['The expires at field must be a valid date.'],
    }
    const response = errorResponse(new InvalidInputError(errors))
    expect(response).toEqual({
      status: 422,
      headers: {},
      body: { message: 'The name field is required.', code: 'invalid_input', errors },
    })
  })

  it('recognises a TokenError from another installed copy of the package by its brand', () => {
    const foreign = Object.assign(new Error('Not found.'), {
      [Symbol.for('@jetstream/tokens/error')]: true,
      code: 'not_found',
      status: 404,
    })
    const response = errorResponse(foreign)
    expect(response.status).toBe(404)
    expect(response.body).toEqual({ message: 'Not found.', code: 'not_found' })
  })
})

describe('errorAnswer: realm', () => {
  it("defaults the realm to 'api'", () => {
    expect(errorResponse(new UnauthenticatedError()).headers['www-authenticate']).toBe('Bearer realm="api"')
  })

  it('uses the realm option in 401 and 403 challenges', () => {
    expect(errorResponse(new UnauthenticatedError(), { realm: 'acme' }).headers['www-authenticate']).toBe(
      'Bearer realm="acme"',
    )
    expect(
      errorResponse(new UnauthenticatedError({ tokenRejected: true }), { realm: 'acme' }).headers[
        'www-authenticate'
      ],
    ).toMatch(/^Bearer realm="acme", error="invalid_token"/)
    expect(
      errorResponse(new MissingAbilitiesError(['read']), { realm: 'acme' }).headers['www-authenticate'],
    ).toBe('Bearer realm="acme", error="insufficient_scope", scope="read"')
  })

  it('escapes double quotes and backslashes in the realm', () => {
    const response = errorResponse(new UnauthenticatedError(), { realm: 'say "hi" \\ bye' })
    expect(response.headers['www-authenticate']).toBe('Bearer realm="say \\"hi\\" \\\\ bye"')
  })

  it('drops control characters from the realm, so a header cannot be split', () => {
    const response = errorResponse(new UnauthenticatedError(), {
      realm: 'api\r\nSet-Cookie: session=stolen\u0000',
    })
    const header = response.headers['www-authenticate'] as string
    expect(header).toBe('Bearer realm="apiSet-Cookie: session=stolen"')
    expect(header).not.toMatch(/[\r\n\0]/)
  })

  it('escapes quotes and backslashes in the scope too', () => {
    const response = errorResponse(new MissingAbilitiesError(['a"b', 'c\\d']))
    expect(response.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="a\\"b c\\\\d"',
    )
  })

  it('sets no challenge on errors other than 401 and missing abilities, whatever the realm', () => {
    expect(errorResponse(new NotFoundError(), { realm: 'acme' }).headers).toEqual({})
    expect(errorResponse(new InvalidInputError({ name: ['x'] }), { realm: 'acme' }).headers).toEqual({})
  })
})

describe('errorAnswer: anything else is a 500 that tells nothing', () => {
  const serverError = { status: 500, headers: {}, body: { message: 'Server Error', code: 'server_error' } }

  it('answers a plain Error with a fixed 500', () => {
    const error = new Error(`connect ECONNREFUSED 10.0.0.3:5432 while checking ${SECRET}`)
    const response = errorResponse(error)
    expect(response).toEqual(serverError)
    expect(serialized(response)).not.toContain('ECONNREFUSED')
    expect(serialized(response)).not.toContain(SECRET)
  })

  it.each([
    ['a string', `token ${SECRET} was bad`],
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    [
      'a plain object that looks like a TokenError',
      { status: 401, code: 'unauthenticated', message: SECRET },
    ],
    ['a TypeError', new TypeError('Cannot read properties of undefined')],
  ])('answers %s with a fixed 500', (_, value) => {
    const response = errorResponse(value)
    expect(response).toEqual(serverError)
    expect(serialized(response)).not.toContain(SECRET)
  })
})

describe('errorAnswer: never leaks', () => {
  it('keeps the cause of a StorageUnavailableError, and its secret, out of the body and headers', () => {
    const cause = new Error(`duplicate key value violates unique constraint: token=${SECRET}`)
    const error = new StorageUnavailableError('The token store failed to find.', { cause })
    const response = errorResponse(error)
    expect(response).toEqual({
      status: 503,
      headers: {},
      body: { message: 'The token store failed to find.', code: 'storage_unavailable' },
    })
    const text = serialized(response)
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain('duplicate key')
    expect(text).not.toContain('cause')
  })

  it('never puts a stack in the body, for any TokenError', () => {
    for (const error of [
      new UnauthenticatedError({ tokenRejected: true }),
      new MissingAbilitiesError(['read']),
      new InvalidInputError({ name: ['x'] }),
      new StorageUnavailableError('down', { cause: new Error(SECRET) }),
      new BadRequestError('bad', { cause: new Error(SECRET) }),
    ]) {
      const response = errorResponse(error)
      const text = serialized(response)
      expect(error.stack).toBeTruthy()
      expect(text).not.toContain('stack')
      expect(text).not.toContain(' at ')
      expect(text).not.toContain(SECRET)
      expect(text).not.toContain(error.name)
    }
  })

  it('does not copy other properties of an error into the body', () => {
    const error = Object.assign(new ForbiddenError(), { token: SECRET, user: { password: SECRET } })
    const response = errorResponse(error)
    expect(Object.keys(response.body).sort()).toEqual(['code', 'message'])
    expect(serialized(response)).not.toContain(SECRET)
  })

  it('gives field errors only to invalid_input, even when another error carries an `errors` field', () => {
    const error = Object.assign(new NotFoundError(), { errors: { token: [SECRET] } })
    const response = errorResponse(error)
    expect(response.body).toEqual({ message: 'Not found.', code: 'not_found' })
    expect(serialized(response)).not.toContain(SECRET)
  })
})

describe('errorAnswer: what the management routes and body readers raise', () => {
  it.each([
    [new SessionRequiredError(), 403, 'session_required'],
    [new PayloadTooLargeError(102_400), 413, 'payload_too_large'],
    [new UnsupportedMediaTypeError(), 415, 'unsupported_media_type'],
    [new MethodNotAllowedError(['GET', 'POST']), 405, 'method_not_allowed'],
    [new ConflictError(), 409, 'conflict'],
  ])('answers %s with its status and code', (error, status, code) => {
    const response = errorResponse(error)
    expect(response.status).toBe(status)
    expect(response.body).toEqual({ message: (error as TokenError).message, code })
  })

  it('names the allowed methods of a 405 in Allow', () => {
    expect(errorResponse(new MethodNotAllowedError(['PUT', 'DELETE'])).headers).toEqual({
      allow: 'PUT, DELETE',
    })
  })

  it('takes the realm the refusing guard gave the error over the option', () => {
    const fromGuard = new UnauthenticatedError({ realm: 'acme' })
    expect(errorResponse(fromGuard, { realm: 'other' }).headers['www-authenticate']).toBe(
      'Bearer realm="acme"',
    )
    const scoped = new MissingAbilitiesError(['read'], { realm: 'acme' })
    expect(errorResponse(scoped).headers['www-authenticate']).toContain('realm="acme"')
  })
})

describe('errorAnswer: client errors from a framework’s body parser or the app are never a 500', () => {
  // http-errors' shape, as Express's and Koa's body parsers raise them.
  const httpError = (status: number, message: string) =>
    Object.assign(new Error(message), { status, statusCode: status, expose: true, type: 'entity.too.large' })

  it.each([
    [413, 'payload_too_large'],
    [415, 'unsupported_media_type'],
    [400, 'bad_request'],
    [404, 'not_found'],
    [403, 'forbidden'],
    [409, 'conflict'],
    [429, 'too_many_requests'],
    [422, 'bad_request'],
  ])('answers a %i with that status, its code, and no message of the parser or app', (status, code) => {
    const response = errorResponse(httpError(status, `request entity ${SECRET}`))
    expect(response.status).toBe(status)
    expect(response.body.code).toBe(code)
    expect(JSON.stringify(response)).not.toContain(SECRET)
  })

  it('answers a 401 as a guest’s, with the Bearer challenge', () => {
    const response = errorResponse(httpError(401, `no ${SECRET}`))
    expect(response.status).toBe(401)
    expect(response.body.code).toBe('unauthenticated')
    expect(response.headers['www-authenticate']).toBe('Bearer realm="api"')
    expect(JSON.stringify(response)).not.toContain(SECRET)
  })

  it('keeps the app’s own headers: a 429’s Retry-After, a 401’s own challenge', () => {
    const busy = Object.assign(httpError(429, 'slow down'), {
      headers: { 'Retry-After': 30, 'X-Queue': ' 4 ' },
    })
    expect(errorResponse(busy)).toEqual({
      status: 429,
      headers: { 'retry-after': '30', 'x-queue': '4' },
      body: { message: 'Too many requests: wait before trying again.', code: 'too_many_requests' },
    })
    const basic = Object.assign(httpError(401, 'who?'), {
      headers: { 'WWW-Authenticate': 'Basic realm="admin"' },
    })
    expect(errorResponse(basic).headers).toEqual({ 'www-authenticate': 'Basic realm="admin"' })
  })

  it('leaves out what no header can carry, and never lets the app’s replace the body’s type or length', () => {
    const headers = {
      'Content-Type': 'text/html',
      'content-length': '1',
      'X-Split': 'a\r\nSet-Cookie: b=1',
      'X-Nul': 'a\0',
      'X-Wide': '🔑',
      'Bad Name': 'x',
      'X-List': ['a', 'b'],
      'X-Object': { a: 1 },
      'X-Kept': 'yes',
    }
    const answer = errorAnswer(Object.assign(httpError(404, 'gone'), { headers }))
    expect(answer.headers).toEqual({
      'x-kept': 'yes',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(answer.body)),
    })
    expect(
      errorResponse(Object.assign(httpError(404, 'gone'), { headers: 'Retry-After: 3' })).headers,
    ).toEqual({})
  })

  it('sends no header of an error it answers 500', () => {
    const unexposed = Object.assign(new Error('x'), { status: 503, headers: { 'Retry-After': '30' } })
    expect(errorResponse(unexposed)).toEqual({
      status: 500,
      headers: {},
      body: { message: 'Server Error', code: 'server_error' },
    })
  })

  it('keeps a 500 for a server error marked as exposed, and for one not marked at all', () => {
    expect(errorResponse(Object.assign(new Error('x'), { status: 502, expose: true })).status).toBe(500)
    expect(errorResponse(Object.assign(new Error('x'), { status: 413 })).status).toBe(500)
  })
})

describe('answerError: what every errorHandler answers, and reports', () => {
  const httpError = (status: number) => Object.assign(new Error('x'), { status, expose: true })

  it('answers as errorAnswer does, and reports only the server’s failures', () => {
    const reported: unknown[] = []
    const report = (error: unknown) => void reported.push(error)
    const bug = new TypeError(`cannot read ${SECRET}`)
    // A misconfiguration that shows only once a request runs: the server failing, not the client's business.
    const setup = new MisconfigurationError(
      'The signed-in user has no `id`: pass `owner: …` to apiTokenRoutes.',
    )
    for (const error of [new NotFoundError(), setup, httpError(404), bug]) {
      const answer = answerError(error, {}, report)
      expect(answer).toEqual(errorAnswer(error))
    }
    expect(reported).toEqual([setup, bug])
    expect(JSON.parse(answerError(setup, {}, report).body)).toEqual({
      message: 'Server Error',
      code: 'server_error',
    })
    expect(answerError(bug, {}, report).body).not.toContain(SECRET)
  })

  it('prints the app’s failure with console.error when neither the app nor the adapter says otherwise', () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const bug = new Error('boom')
      answerError(bug, {})
      answerError(new NotFoundError(), {})
      expect(printed.mock.calls).toEqual([[bug]])
    } finally {
      printed.mockRestore()
    }
  })

  it('answers the same bare 500 when the report itself throws, and prints the failure instead', () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const bug = new Error('boom')
      const failing = () => {
        throw new Error('sink down')
      }
      expect(answerError(bug, { report: failing })).toEqual(errorAnswer(bug))
      expect(answerError(bug, {}, failing)).toEqual(errorAnswer(bug))
      expect(printed.mock.calls).toEqual([[bug], [bug]])
    } finally {
      printed.mockRestore()
    }
  })

  it('reports through the app’s own `report` when given, and keeps the realm', () => {
    const fallback: unknown[] = []
    const given: unknown[] = []
    const bug = new Error('boom')
    answerError(bug, { report: (error) => void given.push(error) }, (error) => void fallback.push(error))
    expect(given).toEqual([bug])
    expect(fallback).toEqual([])
    expect(answerError(httpError(401), { realm: 'acme' }, () => {}).headers['www-authenticate']).toBe(
      'Bearer realm="acme"',
    )
  })
})

describe('jsonAnswer', () => {
  it('serialises once and counts bytes, not characters', () => {
    const answer = jsonAnswer(201, { name: 'clé 🔑' }, { 'x-extra': 'kept' })
    expect(answer).toBeInstanceOf(HttpAnswer)
    expect(answer.body).toBe('{"name":"clé 🔑"}')
    expect(answer.headers).toEqual({
      'x-extra': 'kept',
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(answer.body)),
    })
  })
})

describe('isRefusal', () => {
  it('is true for this library’s refusals, false for a misconfiguration and anything else', () => {
    expect(isRefusal(new NotFoundError())).toBe(true)
    expect(isRefusal(new StorageUnavailableError())).toBe(true)
    expect(isRefusal(new MisconfigurationError('x'))).toBe(false)
    expect(isRefusal(new TypeError('x'))).toBe(false)
    expect(isRefusal(Object.assign(new Error('x'), { status: 404, expose: true }))).toBe(false)
  })
})
