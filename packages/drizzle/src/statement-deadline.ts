import { StorageUnavailableError } from '@jetstream/tokens'

/** Which statements a deadline can have the server stop (`operation`, as given to `watch`), and how. */
interface StatementCancel {
  readonly operation: string
  run(): PromiseLike<unknown>
}

interface InFlight {
  readonly due: number
  readonly operation: string
  readonly reject: (error: Error) => void
  /** Past due (answered 503 already), still running, and of the operation the cancel can reach. */
  overdue: boolean
}

/**
 * Fails a statement that has not answered within the timeout, so a request never waits on a database that hangs.
 * No timer per statement: statements are watched in start order (all share one timeout, so the oldest is always
 * the first to expire) and one timer, armed only while statements are in flight, fails those past due. A
 * `setTimeout` + `Promise.race` per statement cost a visible share of a loopback lookup (bench/).
 *
 * A failed statement may still be running on the server, holding its pooled connection. Given `cancel`, the
 * deadline calls its `run` as soon as a statement of its `operation` passes due, and again every 250 ms for as long
 * as any such statement is still running, one call at a time: `run` asks the server to stop them.
 *
 * @example
 * ```ts
 * const deadline = new StatementDeadline(5_000, {
 *   cancel: { operation: 'find', run: () => queries.cancelOverdue(5_000) },
 * })
 * const rows = await deadline.watch('find', () => client.unsafe(query, [id]))
 * ```
 */
export class StatementDeadline {
  readonly #timeout: number
  readonly #cancel: StatementCancel | undefined
  // Insertion-ordered: the first entry is always the oldest statement.
  readonly #inFlight = new Set<InFlight>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #overdue = 0
  #cancelling = false

  constructor(timeout: number, options: { readonly cancel?: StatementCancel } = {}) {
    this.#timeout = timeout
    this.#cancel = options.cancel
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
      const entry: InFlight = { due: Date.now() + this.#timeout, operation, reject, overdue: false }
      this.#inFlight.add(entry)
      this.#arm()
      const done = () => {
        if (entry.overdue) this.#overdue--
        else this.#inFlight.delete(entry)
      }
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
    this.#timer = unref(setTimeout(() => this.#expire(), Math.max(0, oldest.due - Date.now())))
  }

  #expire(): void {
    this.#timer = undefined
    const now = Date.now()
    for (const entry of this.#inFlight) {
      if (entry.due > now) break
      this.#inFlight.delete(entry)
      // Only statements the cancel can reach are counted: others would keep it asking for nothing.
      if (entry.operation === this.#cancel?.operation) {
        entry.overdue = true
        this.#overdue++
      }
      entry.reject(
        new StorageUnavailableError(
          `The database did not answer "${entry.operation}" within ${this.#timeout} ms.`,
        ),
      )
    }
    this.#arm()
    this.#cancelOverdue()
  }

  #cancelOverdue(): void {
    const cancel = this.#cancel
    if (cancel === undefined || this.#cancelling || this.#overdue === 0) return
    this.#cancelling = true
    const again = () => {
      unref(
        setTimeout(() => {
          this.#cancelling = false
          this.#cancelOverdue()
        }, CANCEL_INTERVAL),
      )
    }
    try {
      cancel.run().then(again, again)
    } catch {
      again()
    }
  }
}

// How often statements past due are cancelled again: one that reached the server after its deadline started
// counting is past the timeout there only a little later.
const CANCEL_INTERVAL = 250

// Watching statements must not keep the process alive on its own.
function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}
