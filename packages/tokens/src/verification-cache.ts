import type { TokenRecord } from './token-store.js'

/**
 * How the verification cache is bounded.
 *
 * @example
 * ```ts
 * const cache: VerificationCacheOptions = { maxEntries: 50_000, ttl: 10_000 }
 * ```
 */
export interface VerificationCacheOptions {
  /** Tokens kept at most; the oldest entry goes first. Default 10 000. */
  readonly maxEntries?: number
  /**
   * Milliseconds an entry is trusted. It bounds how long a change made where this process cannot see it (another
   * instance, plain SQL) goes unnoticed when the store reports no changes. Default 60 000.
   */
  readonly ttl?: number
}

interface Entry {
  record: TokenRecord
  readonly until: number
}

/**
 * Verified token records kept in process, keyed by id, so a request can skip the store. What it keeps and why:
 * - only records whose secret was just verified: an attacker with unknown ids or wrong secrets adds nothing and
 *   so can evict nothing;
 * - at most `maxEntries`, each for at most `ttl`: memory stays bounded;
 * - never the answer: the caller still hashes the presented secret, compares in constant time and checks expiry;
 * - a generation number that every invalidation advances: a lookup that started before a revoke cannot put the
 *   revoked record back when it finishes after it.
 *
 * @example
 * ```ts
 * const cache = new VerificationCache({ maxEntries: 10_000, ttl: 60_000 })
 * const generation = cache.generation
 * const record = cache.get('7', Date.now()) ?? (await store.findById('7'))
 * if (record && verified) cache.set(record, Date.now(), generation)
 * ```
 */
export class VerificationCache {
  readonly #maxEntries: number
  readonly #ttl: number
  // Insertion-ordered: the first entry is the oldest, evicted first.
  readonly #entries = new Map<string, Entry>()
  #generation = 0
  #trusted = true

  constructor(options: VerificationCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#ttl = options.ttl ?? 60_000
  }

  /** Advances on every invalidation; pass the value read before a lookup to {@link VerificationCache.set}. */
  get generation(): number {
    return this.#generation
  }

  /** How many records are kept. */
  get size(): number {
    return this.#entries.size
  }

  /**
   * The record kept for this id, if it is still trusted.
   *
   * @example
   * ```ts
   * cache.get('7', Date.now())
   * ```
   */
  get(id: string, now: number): TokenRecord | undefined {
    if (!this.#trusted) return undefined
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    if (entry.until <= now) {
      this.#entries.delete(id)
      return undefined
    }
    return entry.record
  }

  /**
   * Keeps a verified record, unless something was invalidated since `generation` was read.
   *
   * @example
   * ```ts
   * cache.set(record, Date.now(), generationBeforeLookup)
   * ```
   */
  set(record: TokenRecord, now: number, generation: number): void {
    if (!this.#trusted || generation !== this.#generation) return
    this.#entries.delete(record.id)
    this.#entries.set(record.id, { record, until: now + this.#ttl })
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }

  /**
   * Notes a newer `lastUsedAt` on a kept record (same expiry), so its next hit does not queue another touch.
   *
   * @example
   * ```ts
   * cache.used('7', new Date())
   * ```
   */
  used(id: string, lastUsedAt: Date | null): void {
    const entry = this.#entries.get(id)
    if (entry) entry.record = { ...entry.record, lastUsedAt }
  }

  /**
   * Forgets these ids (revoked, changed, deleted elsewhere).
   *
   * @example
   * ```ts
   * cache.invalidate(['7'])
   * ```
   */
  invalidate(ids: Iterable<string>): void {
    this.#generation++
    for (const id of ids) this.#entries.delete(id)
  }

  /**
   * Forgets everything.
   *
   * @example
   * ```ts
   * cache.clear()
   * ```
   */
  clear(): void {
    this.#generation++
    this.#entries.clear()
  }

  /**
   * Stops or resumes trusting the cache: while the store's change feed is down, every request goes to the store;
   * when it is back, what was kept is dropped (changes may have been missed meanwhile).
   *
   * @example
   * ```ts
   * cache.trust(false) // the listening connection dropped
   * cache.trust(true)  // listening again: starts empty
   * ```
   */
  trust(trusted: boolean): void {
    this.clear()
    this.#trusted = trusted
  }
}
