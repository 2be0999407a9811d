import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from './errors.js'
import { type RequestBody, readJsonObject } from './request-body.js'

const encoder = new TextEncoder()
const JSON_HEADERS = { 'content-type': 'application/json' }

function read(body: RequestBody, headers: Record<string, string> = JSON_HEADERS, limit = 100) {
  return readJsonObject(body, { header: (name) => headers[name], limit })
}

/** The same bytes in every form an adapter hands over. */
function sources(text: string): [string, () => RequestBody][] {
  const bytes = encoder.encode(text)
  return [
    ['bytes', () => bytes],
    ['a Fetch stream', () => new Blob([bytes]).stream()],
    ['a Node stream', () => Readable.from([Buffer.from(bytes)]) as unknown as RequestBody],
    [
      'an async iterable of strings',
      () =>
        (async function* () {
          yield text.slice(0, 3)
          yield text.slice(3)
        })(),
    ],
  ]
}

describe('readJsonObject', () => {
  it.each(sources('{"name":"CI","permissions":["read"]}'))('reads a JSON object from %s', async (_, body) => {
    expect(await read(body())).toEqual({ name: 'CI', permissions: ['read'] })
  })

  it.each(sources('x'.repeat(101)))('refuses more than the limit from %s with 413', async (_, body) => {
    await expect(read(body())).rejects.toBeInstanceOf(PayloadTooLargeError)
  })

  it('refuses a declared Content-Length over the limit without reading a byte', async () => {
    let pulled = false
    const body = new ReadableStream<Uint8Array>(
      {
        pull() {
          pulled = true
        },
      },
      { highWaterMark: 0 },
    )
    await expect(read(body, { ...JSON_HEADERS, 'content-length': '101' })).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    )
    expect(pulled).toBe(false)
  })

  it('takes exactly the limit', async () => {
    const text = JSON.stringify({ name: 'x'.repeat(100 - 11) })
    expect(text.length).toBe(100)
    expect(await read(encoder.encode(text))).toEqual({ name: 'x'.repeat(89) })
  })

  it('keeps a Node stream alive past the limit, draining the rest, so the answer can still go out', async () => {
    const stream = Readable.from([Buffer.alloc(80, 32), Buffer.alloc(80, 32), Buffer.alloc(80, 32)])
    await expect(read(stream as unknown as RequestBody)).rejects.toBeInstanceOf(PayloadTooLargeError)
    if (!stream.readableEnded) await new Promise((resolve) => stream.once('end', resolve))
    expect(stream.errored).toBeNull()
  })

  it('answers 400 when a Node stream fails part way (the client went away)', async () => {
    const stream = new Readable({ read() {} })
    stream.push(Buffer.from('{"name":'))
    const reading = read(stream as unknown as RequestBody)
    stream.destroy(new Error('aborted'))
    await expect(reading).rejects.toBeInstanceOf(BadRequestError)
  })

  it('answers 400, rather than wait forever, for a Node stream closed quietly before or while it is read', async () => {
    // As Node leaves a request whose client went away while nobody listened: destroyed, no error, no end.
    const before = new Readable({ read() {} })
    before.push(Buffer.from('{"name":'))
    before.destroy()
    await new Promise((resolve) => before.once('close', resolve))
    await expect(read(before as unknown as RequestBody)).rejects.toBeInstanceOf(BadRequestError)
    const during = new Readable({ read() {} })
    during.push(Buffer.from('{"name":'))
    const reading = read(during as unknown as RequestBody)
    during.destroy()
    await expect(reading).rejects.toBeInstanceOf(BadRequestError)
  })

  it('answers 400, not a 500, when a Fetch stream fails part way (the client went away)', async () => {
    let fail: (error: Error) => void = () => {}
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('{"name":'))
        fail = (error) => controller.error(error)
      },
    })
    const reading = read(body)
    fail(new TypeError('terminated'))
    await expect(reading).rejects.toBeInstanceOf(BadRequestError)
  })

  it('reads no body, or an empty one, as {} whatever the headers say', async () => {
    expect(await read(null, {})).toEqual({})
    expect(
      await read(new Uint8Array(0), { 'content-type': 'text/plain', 'content-encoding': 'gzip' }),
    ).toEqual({})
  })

  it.each([
    ['application/json'],
    ['application/json; charset=utf-8'],
    ['Application/JSON; Charset="UTF-8"'],
    ['application/json;charset=utf8'],
    ['application/json; boundary=ignored'],
  ])('takes %s', async (type) => {
    expect(await read(encoder.encode('{"a":1}'), { 'content-type': type })).toEqual({ a: 1 })
  })

  it.each([
    ['no Content-Type', {}],
    ['text/plain', { 'content-type': 'text/plain' }],
    ['application/jsonp', { 'content-type': 'application/jsonp' }],
    ['a Latin-1 charset', { 'content-type': 'application/json; charset=latin1' }],
    ['an unknown charset', { 'content-type': 'application/json; charset=klingon' }],
    ['gzip', { ...JSON_HEADERS, 'content-encoding': 'gzip' }],
    ['br', { ...JSON_HEADERS, 'content-encoding': 'br' }],
    ['an unknown encoding', { ...JSON_HEADERS, 'content-encoding': 'bogus' }],
  ])('refuses %s with 415', async (_, headers: Record<string, string>) => {
    await expect(read(encoder.encode('{"a":1}'), headers)).rejects.toBeInstanceOf(UnsupportedMediaTypeError)
  })

  it('takes the identity encoding', async () => {
    expect(await read(encoder.encode('{}'), { ...JSON_HEADERS, 'content-encoding': 'identity' })).toEqual({})
  })

  it.each([
    ['malformed JSON', encoder.encode('{"a":'), 'The request body is not valid JSON.'],
    [
      'bytes that are not UTF-8',
      new Uint8Array([123, 34, 0xff, 34, 58, 49, 125]),
      'The request body is not valid UTF-8.',
    ],
    ['null', encoder.encode('null'), 'The request body must be a JSON object, such as {"name": "CI"}.'],
    ['a string', encoder.encode('"CI"'), 'The request body must be a JSON object, such as {"name": "CI"}.'],
    ['a number', encoder.encode('42'), 'The request body must be a JSON object, such as {"name": "CI"}.'],
    [
      'a list',
      encoder.encode('[{"name":"CI"}]'),
      'The request body must be a JSON object, such as {"name": "CI"}.',
    ],
  ])('refuses %s with 400 and a clear message', async (_, bytes, message) => {
    const error = await read(bytes).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(BadRequestError)
    expect((error as Error).message).toBe(message)
  })

  it('drops __proto__ and constructor keys at every depth, so no prototype is reached', async () => {
    const fields = await read(
      encoder.encode(
        '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}},"name":"p","deep":{"__proto__":{"y":2}}}',
      ),
      JSON_HEADERS,
      1_000,
    )
    expect(Object.keys(fields)).toEqual(['name', 'deep'])
    expect(Object.getPrototypeOf(fields)).toBeNull()
    expect(Object.keys(fields.deep as object)).toEqual([])
    expect(({} as { admin?: unknown }).admin).toBeUndefined()
  })

  it('gives the same fields for a body an app’s parser read, prototype keys dropped at every depth too', async () => {
    const text = '{"name":"p","metadata":{"constructor":"ci","kept":1,"deep":[{"__proto__":{"y":2},"z":3}]}}'
    const raw = await read(encoder.encode(text), JSON_HEADERS, 1_000)
    const parsed = await read({ parsed: JSON.parse(text) }, JSON_HEADERS, 1_000)
    expect(JSON.stringify(parsed)).toBe(JSON.stringify(raw))
    expect(JSON.stringify(parsed)).toBe('{"name":"p","metadata":{"kept":1,"deep":[{"z":3}]}}')
    expect(Object.getPrototypeOf(parsed)).toBeNull()
    await expect(read({ parsed: { n: 1n } }, JSON_HEADERS, 1_000)).rejects.toBeInstanceOf(BadRequestError)
  })

  it('judges a body a parser of the app’s already read by its headers, then its shape', async () => {
    expect(await read({ parsed: { name: 'CI' } })).toEqual({ name: 'CI' })
    expect(await read({ parsed: undefined }, {})).toEqual({})
    // koa-bodyparser's `{}` for a request with no body, or a body it did not parse.
    expect(await read({ parsed: {} }, {})).toEqual({})
    await expect(read({ parsed: 'CI' })).rejects.toBeInstanceOf(BadRequestError)
    await expect(read({ parsed: null }, { ...JSON_HEADERS, 'content-length': '4' })).rejects.toBeInstanceOf(
      BadRequestError,
    )
  })

  it.each([
    ['a form (express.urlencoded)', { name: 'CI' }, { 'content-type': 'application/x-www-form-urlencoded' }],
    [
      'a body the parser passed over (koa-bodyparser)',
      {},
      { 'content-type': 'text/plain', 'content-length': '20' },
    ],
    ['an inflated body', { name: 'CI' }, { ...JSON_HEADERS, 'content-encoding': 'gzip' }],
    ['another charset', { name: 'CI' }, { 'content-type': 'application/json; charset=latin1' }],
  ])('refuses %s with 415, as if it were unread', async (_, parsed, headers) => {
    await expect(read({ parsed }, headers)).rejects.toBeInstanceOf(UnsupportedMediaTypeError)
  })

  it('refuses a parsed body whose declared length is over the limit with 413', async () => {
    await expect(
      read({ parsed: { name: 'CI' } }, { ...JSON_HEADERS, 'content-length': '101' }),
    ).rejects.toBeInstanceOf(PayloadTooLargeError)
  })

  it('reads bytes a parser kept as they were (express.raw) as any body', async () => {
    expect(await read({ parsed: encoder.encode('{"name":"CI"}') })).toEqual({ name: 'CI' })
    await expect(read({ parsed: encoder.encode('x'.repeat(101)) })).rejects.toBeInstanceOf(
      PayloadTooLargeError,
    )
    await expect(read({ parsed: encoder.encode('{') })).rejects.toBeInstanceOf(BadRequestError)
  })
})
