/*
 * Under load, most of a lookup's cost is the round trip rather than the row: the driver's per-statement work on
 * both sides of the wire. So at most a few lookups by id are in flight at a time, and those that arrive meanwhile
 * wait and then go together, as one `where id = any($1)`. A lookup that finds a free slot goes at once, alone, so
 * nothing waits when the load is light; a waiting lookup is sent after it was asked, so it sees every change
 * committed before it was asked (a revocation that has resolved included). Measured (bench/): with 50 concurrent
 * requests, several times the lookups per second of one statement each, on a fraction of the CPU.
 *
 * A database in this process (PGlite) answers each statement before any other request is read, so lookups never
 * overlap and none would wait for another; there, `gather` holds every lookup to the end of the event loop's turn,
 * and those asked in that turn go together.
 */

/**
 * How a {@link LookupBatch} reaches the database: `one` finds a row by its key, `many` the rows of several keys in
 * any order; `key` reads a row's key as the caller writes it. Both calls carry their own deadline.
 *
 * @example
 * ```ts
 * const source: BatchSource<TokenRow> = { one: queries.byId, many: queries.byIds, key: (row) => String(row.id) }
 * ```
 */
export interface BatchSource<Row> {
  one(key: string): PromiseLike<Row | undefined>
  many(keys: readonly string[]): PromiseLike<readonly Row[]>
  key(row: Row): string
}

/**
 * Options of {@link LookupBatch}: how many statements may be in flight, how many keys one statement carries at
 * most, and which errors mean a statement ran out of time.
 *
 * @example
 * ```ts
 * const options: LookupBatchOptions = { slots: 2, size: 64, isTimeout: (error) => error instanceof TimeoutError }
 * ```
 */
export interface LookupBatchOptions {
  readonly slots: number
  readonly size: number
  readonly isTimeout: (error: unknown) => boolean
  /** Given, lookups wait for its callback (`setImmediate`: the end of this turn) and go together (see above). */
  readonly gather?: (flush: () => void) => void
}

interface Waiter<Row> {
  readonly key: string
  readonly resolve: (row: Row | undefined) => void
  readonly reject: (error: unknown) => void
}

/**
 * Finds rows by key, coalescing concurrent lookups (see above).
 *
 * @example
 * ```ts
 * const batch = new LookupBatch(source, { slots: 2, size: 64, isTimeout: (e) => e instanceof StorageUnavailableError })
 * const row = await batch.find('7')
 * ```
 */
export class LookupBatch<Row> {
  readonly #source: BatchSource<Row>
  readonly #slots: number
  readonly #size: number
  readonly #isTimeout: (error: unknown) => boolean
  readonly #gather: ((flush: () => void) => void) | undefined
  #inFlight = 0
  #waiting: Waiter<Row>[] = []
  #gathering = false

  constructor(source: BatchSource<Row>, options: LookupBatchOptions) {
    this.#source = source
    this.#slots = options.slots
    this.#size = options.size
    this.#isTimeout = options.isTimeout
    this.#gather = options.gather
  }

  /**
   * @example
   * ```ts
   * const row = await batch.find('7') // undefined when no row has that key
   * ```
   */
  find(key: string): Promise<Row | undefined> {
    const gather = this.#gather
    if (gather === undefined && this.#inFlight < this.#slots) return this.#one(key)
    return new Promise((resolve, reject) => {
      this.#waiting.push({ key, resolve, reject })
      if (gather === undefined || this.#gathering) return
      this.#gathering = true
      gather(() => {
        this.#gathering = false
        this.#send()
      })
    })
  }

  #one(key: string): Promise<Row | undefined> {
    this.#inFlight++
    let pending: Promise<Row | undefined>
    try {
      pending = Promise.resolve(this.#source.one(key))
    } catch (error) {
      pending = Promise.reject(error)
    }
    pending.then(this.#settled, this.#failed)
    return pending
  }

  #many(waiters: readonly Waiter<Row>[]): void {
    this.#inFlight++
    let pending: Promise<readonly Row[]>
    try {
      pending = Promise.resolve(this.#source.many(waiters.map((waiter) => waiter.key)))
    } catch (error) {
      pending = Promise.reject(error)
    }
    pending.then(
      (rows) => {
        const byKey = new Map<string, Row>()
        for (const row of rows) byKey.set(this.#source.key(row), row)
        for (const waiter of waiters) waiter.resolve(byKey.get(waiter.key))
        this.#settled()
      },
      (error: unknown) => {
        for (const waiter of waiters) waiter.reject(error)
        this.#failed(error)
      },
    )
  }

  readonly #settled = (): void => {
    this.#inFlight--
    this.#send()
  }

  // Sends the waiting lookups, as many statements as there are free slots.
  #send(): void {
    while (this.#waiting.length > 0 && this.#inFlight < this.#slots) {
      const waiters = this.#waiting.splice(0, this.#size)
      const [first] = waiters
      if (waiters.length === 1 && first) this.#one(first.key).then(first.resolve, first.reject)
      else this.#many(waiters)
    }
  }

  // A statement that ran out of time fails every lookup waiting behind it, so none waits longer than one timeout.
  readonly #failed = (error: unknown): void => {
    if (this.#isTimeout(error)) {
      const waiting = this.#waiting
      this.#waiting = []
      for (const waiter of waiting) waiter.reject(error)
    }
    this.#settled()
  }
}
