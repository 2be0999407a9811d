/*
 * PGlite's `query` sends five protocol steps one at a time (parse, describe, bind, execute, sync), each through
 * its own parser pass and promise, and PostgreSQL parses and plans the text again every time. A request's lookup
 * is the same statement every time, so on PGlite it is prepared once under a name and then sent as one
 * Bind + Execute + Sync through `execProtocol`, PGlite's own API for PostgreSQL's wire protocol. Measured
 * (bench/): about a quarter of the CPU time of `query` for the same select.
 *
 * `execProtocol` takes neither of PGlite's locks by itself: the statement runs under `runExclusive` (the query
 * lock), and never inside someone else's open transaction, where it would read uncommitted rows and, failing,
 * abort that transaction; then it waits its turn through `query` like any other statement.
 *
 * The messages are encoded here (PostgreSQL protocol 3.0, "Message Formats"): the library PGlite encodes them
 * with is bundled inside PGlite rather than published, and importing PGlite from this package would break the
 * build of every app that uses another driver.
 */

/**
 * The part of a PGlite client a {@link PgliteStatement} uses. PGlite itself has all of it; a client without the
 * protocol methods (PGliteWorker has no `isInTransaction`) is served through `query` alone.
 *
 * @example
 * ```ts
 * const client: PgliteClient = new PGlite()
 * ```
 */
export interface PgliteClient {
  query(text: string, params: unknown[], options: { rowMode: 'array' }): Promise<{ rows: unknown[][] }>
  exec(text: string): Promise<unknown>
  execProtocol?(
    message: Uint8Array,
    options: { syncToFs: boolean },
  ): Promise<{ messages: readonly { name: string; fields?: unknown[] }[] }>
  runExclusive?<T>(fn: () => Promise<T>): Promise<T>
  isInTransaction?(): boolean
  readonly ready?: boolean
}

/**
 * One select with one text parameter, prepared once on a PGlite and run by name; its `first` resolves to the
 * first row's values as PostgreSQL prints them (text, or null), or undefined when no row matched.
 *
 * @example
 * ```ts
 * const byId = new PgliteStatement(client, 'select id::text, name from tokens where id = $1')
 * const row = await byId.first('7') // ['7', 'CLI']
 * ```
 */
export class PgliteStatement {
  readonly #client: PgliteClient
  readonly #text: string
  /** The client again, when it has the protocol methods. */
  readonly #protocol: ProtocolClient | null
  /** Close + Parse: sent again whenever the statement may be missing or stale. */
  readonly #prepare: Uint8Array
  /** Everything in front of the parameter's length: Bind's type, a length to fill in, portal, name, formats. */
  readonly #bindHead: Uint8Array
  /** Result formats (all text), then Execute and Sync. */
  readonly #tail: Uint8Array
  #prepared = false

  constructor(client: PgliteClient, text: string) {
    this.#client = client
    this.#text = text
    this.#protocol =
      typeof client.execProtocol === 'function' &&
      typeof client.runExclusive === 'function' &&
      typeof client.isInTransaction === 'function'
        ? (client as ProtocolClient)
        : null
    // A name of its own, so two stores on one database never run each other's statement.
    const name = cstring(`jetstream_tokens_${Math.random().toString(36).slice(2, 12)}`)
    this.#prepare = concat([
      message(CLOSE, [Uint8Array.of(STATEMENT), name]),
      message(PARSE, [name, cstring(text), int16(0)]),
    ])
    // Bind: portal "" (one byte 0), the statement, no parameter formats (text), one parameter.
    this.#bindHead = concat([Uint8Array.of(BIND, 0, 0, 0, 0, 0), name, int16(0), int16(1)])
    this.#tail = concat([int16(0), message(EXECUTE, [Uint8Array.of(0), int32(0)]), message(SYNC, [])])
  }

  /**
   * @example
   * ```ts
   * const row = await statement.first(hash)
   * ```
   */
  first(value: string): Promise<readonly unknown[] | undefined> {
    const client = this.#protocol
    if (!client || client.ready === false) return this.#query(value)
    return client
      .runExclusive<readonly unknown[] | undefined | typeof WAIT_FOR_TRANSACTION>(() =>
        client.isInTransaction() ? Promise.resolve(WAIT_FOR_TRANSACTION) : this.#run(client, value),
      )
      .then((row) => (row === WAIT_FOR_TRANSACTION ? this.#query(value) : row))
  }

  #query(value: string): Promise<readonly unknown[] | undefined> {
    return this.#client.query(this.#text, [value], { rowMode: 'array' }).then((result) => result.rows[0])
  }

  #run(client: ProtocolClient, value: string): Promise<readonly unknown[] | undefined> {
    const bind = this.#bind(value)
    if (!this.#prepared) return this.#prepareAndRun(client, bind)
    return client.execProtocol(bind, NO_SYNC).then(firstRow, (error: unknown) => {
      // Gone (DEALLOCATE, DISCARD ALL, a new leader behind a worker) or stale (a column changed type): prepare again.
      const code = (error as { code?: unknown } | null)?.code
      if (code === STATEMENT_MISSING || code === PLAN_CHANGED) return this.#prepareAndRun(client, bind)
      throw error
    })
  }

  #prepareAndRun(client: ProtocolClient, bind: Uint8Array): Promise<readonly unknown[] | undefined> {
    this.#prepared = false
    return client.execProtocol(concat([this.#prepare, bind]), NO_SYNC).then((result) => {
      this.#prepared = true
      return firstRow(result)
    })
  }

  #bind(value: string): Uint8Array {
    const parameter = utf8.encode(value)
    const head = this.#bindHead
    const out = new Uint8Array(head.length + 4 + parameter.length + this.#tail.length)
    out.set(head)
    const view = new DataView(out.buffer)
    // The message's length counts itself but not its type byte, and ends with the result formats.
    view.setInt32(1, head.length - 1 + 4 + parameter.length + 2)
    view.setInt32(head.length, parameter.length)
    out.set(parameter, head.length + 4)
    out.set(this.#tail, head.length + 4 + parameter.length)
    return out
  }
}

type ProtocolClient = PgliteClient &
  Required<Pick<PgliteClient, 'execProtocol' | 'runExclusive' | 'isInTransaction'>>

const WAIT_FOR_TRANSACTION = Symbol('wait for the open transaction')
// A select writes nothing a persistent file system must keep.
const NO_SYNC = { syncToFs: false }
const STATEMENT_MISSING = '26000'
const PLAN_CHANGED = '0A000'

const [BIND, CLOSE, EXECUTE, PARSE, STATEMENT, SYNC] = ['B', 'C', 'E', 'P', 'S', 'S'].map((c) =>
  c.charCodeAt(0),
) as [number, number, number, number, number, number]
const utf8 = new TextEncoder()

function firstRow(result: {
  messages: readonly { name: string; fields?: unknown[] }[]
}): readonly unknown[] | undefined {
  for (const message of result.messages) if (message.name === 'dataRow') return message.fields
  return undefined
}

function message(type: number, parts: readonly Uint8Array[]): Uint8Array {
  const body = concat(parts)
  const out = new Uint8Array(5 + body.length)
  out[0] = type
  new DataView(out.buffer).setInt32(1, 4 + body.length)
  out.set(body, 5)
  return out
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((length, part) => length + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

function cstring(text: string): Uint8Array {
  return concat([utf8.encode(text), Uint8Array.of(0)])
}

function int16(value: number): Uint8Array {
  return Uint8Array.of(value >> 8, value & 0xff)
}

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4)
  new DataView(out.buffer).setInt32(0, value)
  return out
}
