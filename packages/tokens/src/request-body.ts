import { BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError } from './errors.js'

/**
 * A request body as an adapter has it, handed to the core unread:
 * - bytes, or a stream of them: a Fetch `ReadableStream` (Hono), a Node `IncomingMessage` (Koa, Express) or any
 *   async iterable of chunks;
 * - `{ parsed }`: what a body parser of the app's own already read (say, a global `express.json()`): bytes it
 *   kept as they were (`express.raw()`) are read as any body; a value it made is judged by the headers its bytes
 *   came with, then by its shape;
 * - null: no body.
 *
 * @example
 * ```ts
 * const body: RequestBody = req.body !== undefined ? { parsed: req.body } : req
 * ```
 */
export type RequestBody =
  | Uint8Array
  | ReadableStream<Uint8Array>
  | AsyncIterable<Uint8Array | string>
  | { readonly parsed: unknown }
  | null

/**
 * How {@link readJsonObject} reads: the request's headers and the largest body it takes.
 *
 * @example
 * ```ts
 * const options: BodyOptions = { header: (name) => req.headers[name], limit: 102_400 }
 * ```
 */
export interface BodyOptions {
  /** A request header by lower-case name. */
  header(name: string): string | undefined
  /** The largest body in bytes. */
  readonly limit: number
}

/**
 * Reads a JSON object body, judging the request as the management routes need it: an empty body is `{}`;
 * `Content-Length` or the bytes past `limit` → 413; a content encoding other than identity, a media type other
 * than `application/json`, or a charset other than UTF-8 → 415; bytes that are not UTF-8 or not JSON → 400; JSON
 * that is not an object (`null`, a string, a number, a list) → 400. `__proto__` and `constructor` keys are
 * dropped, so nothing read here can reach a prototype.
 *
 * @example
 * ```ts
 * const fields = await readJsonObject(req, { header: (name) => req.headers[name], limit: 102_400 })
 * fields.name // unknown
 * ```
 */
export async function readJsonObject(
  body: RequestBody,
  options: BodyOptions,
): Promise<Readonly<Record<string, unknown>>> {
  const declared = options.header('content-length')
  if (declared !== undefined && Number(declared) > options.limit)
    throw new PayloadTooLargeError(options.limit)
  let unread = body
  if (body !== null && typeof body === 'object' && 'parsed' in body) {
    if (!(body.parsed instanceof Uint8Array)) return parsedObject(body.parsed, options)
    unread = body.parsed
  }
  const bytes = await readBytes(unread, options.limit)
  if (bytes.byteLength === 0) return {}
  assertSendable(options)
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    throw new BadRequestError('The request body is not valid UTF-8.')
  }
  let value: unknown
  try {
    value = JSON.parse(text, dropPrototypeKeys)
  } catch {
    throw new BadRequestError('The request body is not valid JSON.')
  }
  return jsonObject(value)
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

// A value a parser of the app's own made from the body: its bytes are gone, but the headers they came with are
// judged as here, so a form (`express.urlencoded()`), an inflated body or a media type the parser passed over
// (koa-bodyparser then leaves `{}`) gets the same 415 in every framework rather than a 201 or a silent 200.
function parsedObject(parsed: unknown, options: BodyOptions): Readonly<Record<string, unknown>> {
  const sent =
    Number(options.header('content-length') ?? 0) > 0 ||
    options.header('transfer-encoding') !== undefined ||
    !(parsed === undefined || isEmptyObject(parsed))
  if (!sent) return {}
  assertSendable(options)
  return jsonObject(parsed === undefined ? {} : reparsed(parsed))
}

// An app's parser kept the keys JSON.parse gives (`__proto__` and `constructor` at any depth): read the value again
// as bytes are read here, so the same body gives the same fields, metadata included, in every framework.
function reparsed(parsed: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(parsed), dropPrototypeKeys)
  } catch {
    throw new BadRequestError('The request body is not valid JSON.')
  }
}

function isEmptyObject(value: unknown): boolean {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0
  )
}

// An uncompressed `application/json` body in UTF-8, as the headers say.
function assertSendable(options: BodyOptions): void {
  const encoding = options.header('content-encoding')?.trim().toLowerCase()
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') {
    throw new UnsupportedMediaTypeError(
      `Content-Encoding ${JSON.stringify(encoding)} is not supported: send the body uncompressed.`,
    )
  }
  assertJsonMediaType(options.header('content-type'))
}

function jsonObject(value: unknown): Readonly<Record<string, unknown>> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestError('The request body must be a JSON object, such as {"name": "CI"}.')
  }
  // Without a prototype, so no field name reaches one; `dropPrototypeKeys` has taken `__proto__` out already.
  return Object.assign(Object.create(null), value)
}

function dropPrototypeKeys(key: string, value: unknown): unknown {
  return key === '__proto__' || key === 'constructor' ? undefined : value
}

// `application/json`, with no parameter but `charset=utf-8` (any case, quoted or not).
function assertJsonMediaType(contentType: string | undefined): void {
  const [type = '', ...parameters] = (contentType ?? '').split(';')
  if (type.trim().toLowerCase() !== 'application/json') {
    throw new UnsupportedMediaTypeError(
      `Content-Type ${JSON.stringify(contentType ?? '')} is not supported: send application/json.`,
    )
  }
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=', 2)
    if (name.trim().toLowerCase() !== 'charset') continue
    const charset = value
      .trim()
      .replace(/^"(.*)"$/, '$1')
      .toLowerCase()
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new UnsupportedMediaTypeError(
        `The charset ${JSON.stringify(charset)} is not supported: send the body in UTF-8.`,
      )
    }
  }
}

// At most `limit` bytes. On going over it stops keeping them without destroying a Node stream, so the 413 still
// reaches the client over the same connection while the rest is read and dropped (Node's own way with a body
// nobody read; its `requestTimeout` bounds a client that never stops).
async function readBytes(body: RequestBody, limit: number): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0)
  if (body instanceof Uint8Array) {
    if (body.byteLength > limit) throw new PayloadTooLargeError(limit)
    return body
  }
  const chunks: Uint8Array[] = []
  let size = 0
  const add = (chunk: Uint8Array | string): boolean => {
    const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk
    size += bytes.byteLength
    if (size > limit) return false
    chunks.push(bytes)
    return true
  }
  if (isReadableStream(body)) {
    const reader = body.getReader()
    // A read fails when the client went away mid-body: its request, not the app, failed.
    const read = () => reader.read().catch(() => Promise.reject(unreadable()))
    for (let next = await read(); !next.done; next = await read()) {
      if (!add(next.value)) {
        await reader.cancel().catch(() => {})
        throw new PayloadTooLargeError(limit)
      }
    }
  } else if (isNodeReadable(body)) {
    await readNode(body, add, limit)
  } else {
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) {
      if (!add(chunk)) throw new PayloadTooLargeError(limit)
    }
  }
  return concat(chunks, size)
}

const encoder = new TextEncoder()

interface NodeReadable {
  on(event: string, listener: (...args: never[]) => void): unknown
  off(event: string, listener: (...args: never[]) => void): unknown
  resume(): unknown
  readonly readableEnded?: boolean
  readonly destroyed?: boolean
}

function isReadableStream(body: object): body is ReadableStream<Uint8Array> {
  return typeof (body as { getReader?: unknown }).getReader === 'function'
}

function isNodeReadable(body: object): body is NodeReadable {
  const candidate = body as Partial<NodeReadable>
  return typeof candidate.on === 'function' && typeof candidate.resume === 'function'
}

// Node streams are read by events rather than `for await`: leaving an async iterator early destroys the request,
// and with it the socket the 413 must go out on.
function readNode(
  stream: NodeReadable,
  add: (chunk: Uint8Array | string) => boolean,
  limit: number,
): Promise<void> {
  if (stream.readableEnded) return Promise.resolve()
  // A client that went away before the body was asked for: Node destroyed the request quietly, and no event of it
  // will ever come.
  if (stream.destroyed) return Promise.reject(unreadable())
  return new Promise((resolve, reject) => {
    const done = (error?: unknown) => {
      stream.off('data', data)
      stream.off('end', end)
      stream.off('error', failed)
      stream.off('close', failed)
      if (error === undefined) resolve()
      else reject(error)
    }
    const data = (chunk: Uint8Array | string) => {
      if (add(chunk)) return
      done(new PayloadTooLargeError(limit))
      stream.resume() // flowing with no listener: the rest is dropped
    }
    const end = () => done()
    // Closed before its end: the client went away mid-body.
    const failed = () => done(unreadable())
    stream.on('data', data)
    stream.on('end', end)
    stream.on('error', failed)
    stream.on('close', failed)
    stream.resume()
  })
}

function unreadable(): BadRequestError {
  return new BadRequestError('The request body could not be read.')
}

function concat(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}
