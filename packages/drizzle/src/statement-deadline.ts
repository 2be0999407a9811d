import { StorageUnavailableError } from '@jetstream/tokens'

/** Which statements a deadline can have the server stop (`operation`, as given to `watch`), and how. */
interface StatementCancel {
  readonly operation: string
  run(): PromiseLike<unknown>
}

/**
 * Fails a statement that has not answered within the timeout, so a request never waits on a database that hangs.
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
  // Statements past due (answered 503 already), still running, of the operation the cancel can reach.
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
      // Only statements the cancel can reach are counted: others would keep it asking for nothing.
      const cancellable = operation === this.#cancel?.operation
      let overdue = false
      const timer = setTimeout(() => {
        overdue = cancellable
        if (overdue) this.#overdue++
        reject(
          new StorageUnavailableError(
            `The database did not answer "${operation}" within ${this.#timeout} ms.`,
          ),
        )
        this.#cancelOverdue()
      }, this.#timeout)
      unref(timer)
      const done = () => {
        clearTimeout(timer)
        if (overdue) this.#overdue--
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
