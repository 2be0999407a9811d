import {
  type AuditAction,
  type AuditActor,
  type AuditEvent,
  type AuditSink,
  type AuthenticationFailure,
  MisconfigurationError,
  StorageUnavailableError,
  type TokenOwner,
} from '@jetstream/tokens'
import { and, desc, eq, or } from 'drizzle-orm'
import { driverOf } from './driver-of.js'
import type { AnyPgDatabase } from './drizzle-token-store.js'
import { tokenAuditLog } from './schema.js'
import { StatementDeadline } from './statement-deadline.js'

/**
 * Options of {@link drizzleAuditLog}.
 *
 * @example
 * ```ts
 * const options: DrizzleAuditLogOptions = { flushDelay: 2_000, onError: (error) => logger.warn(error.message) }
 * ```
 */
export interface DrizzleAuditLogOptions {
  /** Milliseconds an event may wait to be written with others. Default 1000. */
  readonly flushDelay?: number
  /** A batch is written as soon as this many events wait, without waiting for `flushDelay`. Default 500. */
  readonly batchSize?: number
  /**
   * The most events kept waiting, while the database is slow or down: past it the oldest are dropped (and that is
   * reported). Default 10 000.
   */
  readonly maxPending?: number
  /**
   * Milliseconds a statement may take before it counts as failed. Default 5000. Not applied to an in-process
   * PGlite, which cannot hang on a network.
   */
  readonly timeout?: number
  /**
   * Told of every failure, each a `StorageUnavailableError` whose message says how many events it concerns: a write
   * that failed (its events are kept for the next attempt), events dropped, a batch the database refused. It
   * must not throw (a throw is ignored). Default: one line on `console.error`, without any event's contents.
   */
  readonly onError?: (error: Error) => void
}

/**
 * An audit trail in the `token_audit_log` table ({@link tokenAuditLog}, created by `migrate(db)`): hand it to
 * `createTokens({ audit })`. `record` only queues; batches are written off the request's path, one multi-row
 * `insert` each. Call `close()` at shutdown so the last events are written.
 *
 * @example
 * ```ts
 * const audit = drizzleAuditLog(db)
 * const tokens = createTokens({ store: drizzleStore(db), audit })
 * // …at shutdown
 * await audit.close()
 * ```
 */
export function drizzleAuditLog(db: AnyPgDatabase, options: DrizzleAuditLogOptions = {}): DrizzleAuditLog {
  return new DrizzleAuditLog(db, options)
}

type AuditRow = typeof tokenAuditLog.$inferInsert

// PostgreSQL takes at most 65 535 parameters per statement, and a row has 12.
const MAX_BATCH_SIZE = 5_000
// A client chooses its user agent: keep what identifies it, not whatever it sends.
const USER_AGENT_LENGTH = 512
const INT4_MAX = 2_147_483_647

/**
 * The audit trail {@link drizzleAuditLog} builds.
 *
 * Events are written at least once: a write that timed out may still have landed, and is tried again.
 *
 * @example
 * ```ts
 * const audit: DrizzleAuditLog = drizzleAuditLog(db, { flushDelay: 500 })
 * await audit.recent({ type: 'user', id: '42' }, '7', 20)
 * ```
 */
export class DrizzleAuditLog implements AuditSink {
  readonly #db: AnyPgDatabase
  readonly #deadline: StatementDeadline | null
  readonly #flushDelay: number
  readonly #batchSize: number
  readonly #maxPending: number
  readonly #report: (error: Error) => void
  #queue: AuditRow[] = []
  #dropped = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  // Writes run one after another, so batches reach the table in the order they were recorded.
  #flushing: Promise<void> = Promise.resolve()
  // A flush is chained and has not started: it will take every event recorded until it does.
  #flushWaiting = false
  // The last write failed: batches wait for the timer rather than retry on every `batchSize` events.
  #retrying = false
  #closing: Promise<void> | undefined
  #recordedAfterClose = false

  constructor(db: AnyPgDatabase, options: DrizzleAuditLogOptions = {}) {
    const flushDelay = options.flushDelay ?? 1_000
    const batchSize = options.batchSize ?? 500
    const maxPending = options.maxPending ?? 10_000
    const timeout = options.timeout ?? 5_000
    if (!(Number.isFinite(flushDelay) && flushDelay >= 0)) {
      throw new MisconfigurationError('`flushDelay` is a number of milliseconds, 0 or more.')
    }
    if (!(Number.isInteger(batchSize) && batchSize >= 1 && batchSize <= MAX_BATCH_SIZE)) {
      throw new MisconfigurationError(
        `\`batchSize\` is a whole number from 1 to ${MAX_BATCH_SIZE} (PostgreSQL's limit on parameters per statement).`,
      )
    }
    if (!(Number.isInteger(maxPending) && maxPending >= 1)) {
      throw new MisconfigurationError('`maxPending` is a whole number of events, 1 or more.')
    }
    if (!(Number.isFinite(timeout) && timeout > 0)) {
      throw new MisconfigurationError('`timeout` is a number of milliseconds greater than 0.')
    }
    this.#db = db
    // As the token store does: an in-process PGlite has no network to hang on; a server gets a deadline.
    this.#deadline = driverOf(db) === 'pglite' ? null : new StatementDeadline(timeout)
    this.#flushDelay = flushDelay
    this.#batchSize = batchSize
    this.#maxPending = maxPending
    const report = options.onError ?? logToConsole
    this.#report = (error) => {
      try {
        report(error)
      } catch {
        // A reporter that throws must not stop the writer nor reach the request that recorded the event.
      }
    }
  }

  /**
   * Queues `event`; never throws, never waits. A batch is written `flushDelay` after the first event waiting, or
   * at once when `batchSize` events wait.
   *
   * @example
   * ```ts
   * audit.record({
   *   action: 'revoked', at: new Date(), actor: { type: 'user', id: '42' }, owner: { type: 'user', id: '42' },
   *   tokenId: '7', reason: null, count: null, ip: '203.0.113.7', userAgent: 'Mozilla/5.0',
   * })
   * ```
   */
  record(event: AuditEvent): void {
    if (this.#closing) {
      // Reported once: an app that keeps recording after shutdown would otherwise fill its log.
      if (!this.#recordedAfterClose) {
        this.#recordedAfterClose = true
        this.#report(
          new StorageUnavailableError(
            'The audit log is closed: events recorded after close() are not written (this is reported once).',
          ),
        )
      }
      return
    }
    let row: AuditRow
    try {
      // Encoded now, so a caller changing its object afterwards changes nothing.
      row = encode(event)
    } catch {
      this.#report(new StorageUnavailableError('The audit log dropped an event it could not read.'))
      return
    }
    this.#queue.push(row)
    if (this.#queue.length > this.#maxPending) {
      this.#queue.shift()
      // Counted here, reported by the next flush: one report per attempt, not one per request.
      this.#dropped++
    }
    if (this.#queue.length >= this.#batchSize && !this.#retrying) this.#startFlush()
    else this.#schedule()
  }

  /**
   * The owner's token's latest events, newest first, at most `limit`: those about `tokenId`, and its rotation
   * into another token (`previousTokenId`). One `select`, through the owner-token-time index. Rejects with
   * `StorageUnavailableError` when the database fails.
   *
   * @example
   * ```ts
   * const activity = await audit.recent({ type: 'user', id: '42' }, '7', 20)
   * ```
   */
  async recent(owner: TokenOwner, tokenId: string, limit: number): Promise<AuditEvent[]> {
    const count = Math.min(Math.floor(limit), INT4_MAX)
    if (!(count > 0)) return []
    // Flush first rather than merge the queue in: every event recorded before this call is then in the table and
    // read by the one select, and an event written meanwhile cannot show up twice (once from the queue, once from
    // the table). If that write fails, it was reported, and the select most likely fails the same way.
    await this.flush()
    const t = tokenAuditLog
    // The same cleaning as when written, so what was stored is what is found.
    const id = clean(tokenId)
    const where = and(
      eq(t.ownerType, clean(owner.type, 255) ?? ''),
      eq(t.ownerId, clean(owner.id) ?? ''),
      or(eq(t.tokenId, id ?? ''), eq(t.previousTokenId, id ?? '')),
    )
    let rows: (typeof tokenAuditLog.$inferSelect)[]
    try {
      rows = await this.#watch('audit read', () =>
        this.#db.select().from(t).where(where).orderBy(desc(t.at), desc(t.id)).limit(count),
      )
    } catch (error) {
      throw new StorageUnavailableError('The database failed to read the audit log.', {
        cause: driverCause(error),
      })
    }
    return rows.map(decode)
  }

  /**
   * Writes every waiting event now, `batchSize` per statement. Never rejects: a failure is reported to `onError`
   * and its events wait for the next attempt.
   *
   * @example
   * ```ts
   * await audit.flush()
   * ```
   */
  flush(): Promise<void> {
    this.#startFlush()
    return this.#flushing
  }

  /**
   * Writes what waits and stops the timer; events still unwritten after that attempt (the database failing) are
   * dropped and reported. Later `record` calls are ignored (reported once). Call it at shutdown.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', async () => {
   *   await audit.close()
   *   process.exit(0)
   * })
   * ```
   */
  close(): Promise<void> {
    this.#closing ??= this.flush().then(() => {
      clearTimeout(this.#timer)
      this.#timer = undefined
      this.#reportDrops()
      // What the last attempt could not write has no later attempt: say so, and why.
      const left = this.#queue.length
      if (left > 0) {
        this.#queue = []
        this.#report(
          new StorageUnavailableError(
            `The audit log closed with ${left} events it could not write; they were dropped.`,
          ),
        )
      }
    })
    return this.#closing
  }

  // Chains a flush after the one running, unless one already waits to start: that one will take these events too.
  #startFlush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#flushWaiting) return
    this.#flushWaiting = true
    this.#flushing = this.#flushing.then(() => {
      this.#flushWaiting = false
      return this.#drain()
    })
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#flushWaiting || this.#closing) return
    this.#timer = setTimeout(() => this.#startFlush(), this.#flushDelay)
    // Waiting events must not keep a Node process alive; `close()` is how an app writes them before it exits.
    ;(this.#timer as { unref?: () => void }).unref?.()
  }

  // Never rejects: the chain of flushes must survive any failure.
  async #drain(): Promise<void> {
    this.#reportDrops()
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#batchSize)
      try {
        await this.#watch('audit insert', () => this.#db.insert(tokenAuditLog).values(batch))
        this.#retrying = false
      } catch (error) {
        const cause = driverCause(error)
        if (isRefusedValue(cause)) {
          // The same rows would be refused on every retry and hold back every later event. Values are cleaned
          // before they are queued, so this takes a table changed by hand (a narrower column, a new NOT NULL).
          this.#report(
            new StorageUnavailableError(
              `The database refused a batch of ${batch.length} audit events; they were dropped.`,
              { cause },
            ),
          )
          continue
        }
        // Back in front, oldest first, as if never taken; the bound still holds.
        this.#queue = batch.concat(this.#queue)
        const excess = this.#queue.length - this.#maxPending
        if (excess > 0) {
          this.#queue.splice(0, excess)
          this.#dropped += excess
        }
        this.#retrying = true
        this.#report(
          new StorageUnavailableError(
            `The audit log could not write ${batch.length} events; they wait for the next attempt.`,
            { cause },
          ),
        )
        this.#reportDrops()
        this.#schedule()
        return
      }
      this.#reportDrops()
    }
  }

  #reportDrops(): void {
    if (this.#dropped === 0) return
    const dropped = this.#dropped
    this.#dropped = 0
    this.#report(
      new StorageUnavailableError(
        `The audit log dropped ${dropped} events: more than ${this.#maxPending} waited to be written.`,
      ),
    )
  }

  // The statement under the deadline (none in process); a synchronous throw becomes a rejection.
  #watch<T>(operation: string, query: () => PromiseLike<T>): Promise<T> {
    try {
      return this.#deadline ? this.#deadline.watch(operation, query) : Promise.resolve(query())
    } catch (error) {
      return Promise.reject(error)
    }
  }
}

// A report's message and the driver's error code; never the driver's message, which may quote a value.
function logToConsole(error: Error): void {
  const code = (error.cause as { code?: unknown } | undefined)?.code
  console.error(`@jetstream/drizzle: ${error.message}${typeof code === 'string' ? ` (${code})` : ''}`)
}

// drizzle wraps driver errors in DrizzleQueryError, whose message lists the parameters (the events' contents):
// keep only the driver's own error.
function driverCause(error: unknown): unknown {
  return error instanceof Error && error.message.startsWith('Failed query:') ? error.cause : error
}

// SQLSTATE class 22 (data exception) or 23 (integrity constraint violation): the rows themselves are refused.
function isRefusedValue(cause: unknown): boolean {
  const code = (cause as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'))
}

/**
 * Text as PostgreSQL can store it: NUL characters removed (a text value cannot hold them), cut to `max`
 * characters (varchar columns refuse longer values; ip and user agent are whatever the client sent). Characters as
 * varchar counts them, code points: cut by UTF-16 units, two owner types the core accepts (255 code points) could
 * be cut to one and share their events.
 */
function clean(value: unknown, max?: number): string | null {
  if (value === null || value === undefined) return null
  let text = String(value)
  if (text.includes('\0')) text = text.replaceAll('\0', '')
  // No more UTF-16 units than `max` is no more code points either.
  if (max === undefined || text.length <= max) return text
  const characters = Array.from(text)
  return characters.length <= max ? text : characters.slice(0, max).join('')
}

function encode(event: AuditEvent): AuditRow {
  const at = new Date(event.at)
  const count = event.count
  return {
    action: clean(event.action, 32) ?? '',
    // An event is recorded as it happens: a time PostgreSQL could not take is closest to now.
    at: Number.isNaN(at.getTime()) ? new Date() : at,
    actorType: clean(event.actor?.type, 16),
    actorId: clean(event.actor?.id),
    ownerType: clean(event.owner?.type, 255),
    ownerId: clean(event.owner?.id),
    tokenId: clean(event.tokenId),
    previousTokenId: clean(event.previousTokenId),
    reason: clean(event.reason, 32),
    count:
      typeof count === 'number' && Number.isFinite(count)
        ? Math.max(-INT4_MAX - 1, Math.min(INT4_MAX, Math.trunc(count)))
        : null,
    ip: clean(event.ip, 64),
    userAgent: clean(event.userAgent, USER_AGENT_LENGTH),
  }
}

// The shape MemoryAuditLog gives back: a Date, nulls for what is absent, `previousTokenId` always there.
function decode(row: typeof tokenAuditLog.$inferSelect): AuditEvent {
  return Object.freeze({
    action: row.action as AuditAction,
    at: row.at,
    actor:
      row.actorType !== null && row.actorId !== null
        ? { type: row.actorType as AuditActor['type'], id: row.actorId }
        : null,
    owner: row.ownerType !== null && row.ownerId !== null ? { type: row.ownerType, id: row.ownerId } : null,
    tokenId: row.tokenId,
    previousTokenId: row.previousTokenId,
    reason: row.reason as AuthenticationFailure | null,
    count: row.count,
    ip: row.ip,
    userAgent: row.userAgent,
  })
}
