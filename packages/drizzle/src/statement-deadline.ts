import { StorageUnavailableError } from '@jetstream/tokens'

interface InFlight {
  readonly due: number
  readonly operation: string
  readonly reject: (error: Error) => void
}

/**
 * Fails a statement that has not answered within the timeout, so a request never waits on a database that hangs.
 * No timer per statement: statements are watched in start order (all share one timeout, so the oldest is always
 * the first to expire) and one timer, armed only while statements are in flight, fails those past due. A
 * `setTimeout` + `Promise.race` per statement cost a visible share of a loopback lookup (bench/).
 *
 * @example
 * ```ts
 * const deadline = new StatementDeadline(5_000)
 * const rows = await deadline.watch('find', () => client.unsafe(query, [id]))
 * ```
 */
export class StatementDeadline {
  readonly #timeout: number
  // Insertion-ordered: the first entry is always the oldest statement.
  readonly #inFlight = new Set<InFlight>()
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(timeout: number) {
    this.#timeout = timeout
  }

  /**
   * Settles as `statement` does, or rejects with `StorageUnavailableError` once the timeout has passed.
   *
   * @example
   * ```ts
   * await deadline.watch('insert', () => db.insert(table).values(row))
   * ```
   */
  watch<T>(operation: string, statement: () => PromiseLike<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: InFlight = { due: Date.now() + this.#timeout, operation, reject }
      this.#inFlight.add(entry)
      this.#arm()
      const done = () => this.#inFlight.delete(entry)
      try {
        statement().then(
          (value) => {
            done()
            resolve(value)
          },
          (error: unknown) => {
            done()
            reject(error)
          },
        )
      } catch (error) {
        done()
        reject(error)
      }
    })
  }

  #arm(): void {
    if (this.#timer !== undefined) return
    const oldest = this.#inFlight.values().next().value
    if (oldest === undefined) return
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, oldest.due - Date.now()))
    // Watching a statement must not keep the process alive on its own.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  #expire(): void {
    this.#timer = undefined
    const now = Date.now()
    for (const entry of this.#inFlight) {
      if (entry.due > now) break
      this.#inFlight.delete(entry)
      entry.reject(
        new StorageUnavailableError(
          `The database did not answer "${entry.operation}" within ${this.#timeout} ms.`,
        ),
      )
    }
    this.#arm()
  }
}
