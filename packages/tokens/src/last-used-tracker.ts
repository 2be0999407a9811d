/**
 * How `lastUsedAt` is kept up to date.
 *
 * @example
 * ```ts
 * const lastUsed: LastUsedOptions = { interval: 5 * 60_000, flushDelay: 2_000 }
 * ```
 */
export interface LastUsedOptions {
  /** A token whose `lastUsedAt` is younger than this many milliseconds is not touched again. Default 60 000. */
  readonly interval?: number
  /** Touches wait this many milliseconds to be written together in one batch. Default 1 000. */
  readonly flushDelay?: number
}

/**
 * Coalesces `lastUsedAt` writes: at most one per token per interval, written in one batched call after a short
 * delay, instead of Sanctum's write on every request. Each token's write carries the time of its latest use
 * before the flush, not the time of the write.
 *
 * @example
 * ```ts
 * const tracker = new LastUsedTracker((uses) => store.touch(uses), {}, reportError)
 * tracker.note(record.id, record.lastUsedAt, Date.now())
 * await tracker.close()
 * ```
 */
export class LastUsedTracker {
  readonly interval: number
  /** How long a noted use may wait before its write starts, in milliseconds. */
  readonly flushDelay: number
  readonly #write: (uses: ReadonlyMap<string, Date>) => Promise<void>
  readonly #report: (error: unknown) => void
  readonly #pending = new Map<string, Date>()
  #timer: ReturnType<typeof setTimeout> | undefined
  #flushing: Promise<void> = Promise.resolve()

  constructor(
    write: (uses: ReadonlyMap<string, Date>) => Promise<void>,
    options: LastUsedOptions,
    report: (error: unknown) => void,
  ) {
    this.interval = options.interval ?? 60_000
    this.flushDelay = options.flushDelay ?? 1_000
    this.#write = write
    this.#report = report
  }

  /**
   * Records a use of token `id` at `now`, given when it was last used as far as the caller knows (both in epoch
   * milliseconds). Returns the time this use was recorded at (a touch is pending or now due), or null when the
   * known `lastUsedAt` is recent enough and stands.
   *
   * @example
   * ```ts
   * tracker.note('7', null, Date.now()) // a Date: the use just queued
   * ```
   */
  note(id: string, lastUsedAt: number | null, now: number): Date | null {
    const pending = this.#pending.has(id)
    if (!pending && lastUsedAt !== null && now - lastUsedAt < this.interval) return null
    // A touch already waiting takes this later use: the write records the latest use before the flush.
    const at = new Date(now)
    this.#pending.set(id, at)
    if (!pending) this.#schedule()
    return at
  }

  /**
   * The time of token `id`'s use waiting to be written, in epoch milliseconds, or undefined when none waits: what
   * the store does not know yet.
   *
   * @example
   * ```ts
   * tracker.pending('7') // 1764615600000
   * ```
   */
  pending(id: string): number | undefined {
    return this.#pending.get(id)?.getTime()
  }

  /**
   * Drops a pending touch, for a token that was just revoked.
   *
   * @example
   * ```ts
   * tracker.forget('7')
   * ```
   */
  forget(id: string): void {
    this.#pending.delete(id)
  }

  /**
   * Writes every pending touch now, in one call. A failed write is reported and retried with the next batch.
   *
   * @example
   * ```ts
   * await tracker.flush()
   * ```
   */
  flush(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#flushing = this.#flushing.then(async () => {
      if (this.#pending.size === 0) return
      const batch = new Map(this.#pending)
      this.#pending.clear()
      try {
        await this.#write(batch)
      } catch (error) {
        for (const [id, at] of batch) if (!this.#pending.has(id)) this.#pending.set(id, at)
        this.#schedule()
        this.#report(error)
      }
    })
    return this.#flushing
  }

  /**
   * Flushes what is pending; after a failure the touches are dropped rather than kept for a next time that
   * will not come.
   *
   * @example
   * ```ts
   * await tracker.close()
   * ```
   */
  async close(): Promise<void> {
    await this.flush()
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#pending.clear()
  }

  #schedule(): void {
    if (this.#timer !== undefined) return
    this.#timer = setTimeout(() => void this.flush(), this.flushDelay)
    // A pending touch must not keep a Node process alive; `close()` is how an app flushes before it exits.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }
}
