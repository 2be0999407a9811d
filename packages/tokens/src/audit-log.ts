import { MisconfigurationError } from './errors.js'
import type { TokenOwner } from './token-owner.js'
import type { AuthenticationFailure } from './token-service.js'

/**
 * What happened to a token, as the audit trail records it.
 *
 * @example
 * ```ts
 * const action: AuditAction = 'revoked'
 * ```
 */
export type AuditAction =
  | 'created'
  | 'updated'
  | 'rotated'
  | 'revoked'
  | 'pruned'
  | 'authenticated'
  | 'refused'

/**
 * Who acted: the signed-in user (through the app's session) or a token (a bearer request); null for the app's
 * own code (a direct call, the command line).
 *
 * @example
 * ```ts
 * const actor: AuditActor = { type: 'user', id: '42' }
 * ```
 */
export interface AuditActor {
  readonly type: 'user' | 'token'
  readonly id: string
}

/**
 * The request behind an action, as far as the adapter knows it: who made it, from which address, with which
 * client. Pass it to the service's management methods (`{ context }`); the adapters' routes and middleware do.
 *
 * @example
 * ```ts
 * const context: AuditContext = { actor: { type: 'user', id: '42' }, ip: '203.0.113.7', userAgent: 'curl/8.5.0' }
 * ```
 */
export interface AuditContext {
  readonly actor?: AuditActor | null
  readonly ip?: string | null
  readonly userAgent?: string | null
}

/**
 * One entry of the audit trail. Never a plain text, secret or hash.
 *
 * @example
 * ```ts
 * const event: AuditEvent = {
 *   action: 'created', at: new Date(), actor: { type: 'user', id: '42' }, owner: { type: 'user', id: '42' },
 *   tokenId: '7', reason: null, count: null, ip: '203.0.113.7', userAgent: 'Mozilla/5.0',
 * }
 * ```
 */
export interface AuditEvent {
  readonly action: AuditAction
  readonly at: Date
  readonly actor: AuditActor | null
  /** Whose token it is; null where no single owner is concerned (`pruned`, a refused unknown token). */
  readonly owner: TokenOwner | null
  /** The token concerned (for `rotated`, the new one; the old one is `previousTokenId`); null for `pruned`. */
  readonly tokenId: string | null
  /** For `rotated`: the token it replaced. */
  readonly previousTokenId?: string | null
  /** For `refused`: why. */
  readonly reason: AuthenticationFailure | null
  /** For `pruned`: how many tokens were deleted. */
  readonly count: number | null
  readonly ip: string | null
  readonly userAgent: string | null
}

/**
 * Where audit events go: `createTokens({ audit })`. `record` is called on the request's path and must not block
 * it (queue the write); a throw or a rejected promise is reported to `on.error` and ignored. `recent` serves the
 * token page's activity list; a sink that cannot read may leave it out.
 *
 * @example
 * ```ts
 * const audit: AuditSink = { record: (event) => logger.info(event) }
 * ```
 */
export interface AuditSink {
  /**
   * Keeps one event. An `async` one may return its promise (the service does not wait for it): a rejection is
   * reported to `on.error`.
   */
  record(event: AuditEvent): void | PromiseLike<void>
  /** The owner's token's latest events, newest first, at most `limit`. */
  recent?(owner: TokenOwner, tokenId: string, limit: number): Promise<AuditEvent[]>
}

/**
 * An {@link AuditSink} in process memory, keeping the last `capacity` events (default 10 000): for tests, demos and
 * single-process apps. Refusals (whatever a client sends: a real token's id with a guessed secret has an owner) and
 * events of no owner (a prune) are kept apart, up to `capacity` too, so a flood of junk tokens cannot push the
 * owners' own events out of `recent`; `recent` still shows a token's latest refusals among them.
 *
 * @example
 * ```ts
 * const audit = new MemoryAuditLog()
 * const tokens = createTokens({ store, audit })
 * await audit.recent({ type: 'user', id: '42' }, '7', 20)
 * ```
 */
export class MemoryAuditLog implements AuditSink {
  readonly #capacity: number
  // Each event with its place in the order of recording, so the two lists can be merged back.
  readonly #owned: Recorded[] = []
  readonly #others: Recorded[] = []
  #recorded = 0

  constructor(options: { capacity?: number } = {}) {
    const capacity = options.capacity ?? 10_000
    // `slice(-0)` keeps everything: a capacity of 0 would have been no bound at all.
    if (!(Number.isSafeInteger(capacity) && capacity >= 1)) {
      throw new MisconfigurationError('`capacity` is a whole number of events, 1 or more.')
    }
    this.#capacity = capacity
  }

  /** @example audit.record(event) */
  record(event: AuditEvent): void {
    const list = event.owner && event.action !== 'refused' ? this.#owned : this.#others
    list.push({ order: this.#recorded++, event: copyOf(event) })
    // One in, one out once full: no copy of the whole list on every event.
    if (list.length > this.#capacity) list.shift()
  }

  /** @example await audit.recent(owner, '7', 20) */
  async recent(owner: TokenOwner, tokenId: string, limit: number): Promise<AuditEvent[]> {
    const found: Recorded[] = []
    for (const list of [this.#owned, this.#others]) {
      let taken = 0
      for (let i = list.length - 1; i >= 0 && taken < limit; i--) {
        const recorded = list[i] as Recorded
        const { event } = recorded
        const concerns = event.tokenId === tokenId || event.previousTokenId === tokenId
        if (concerns && event.owner?.type === owner.type && event.owner.id === owner.id) {
          found.push(recorded)
          taken++
        }
      }
    }
    return found
      .sort((a, b) => b.order - a.order)
      .slice(0, limit)
      .map(({ event }) => copyOf(event))
  }

  /** Every event kept, oldest first: for tests. @example audit.all() */
  all(): readonly AuditEvent[] {
    return [...this.#owned, ...this.#others]
      .sort((a, b) => a.order - b.order)
      .map(({ event }) => copyOf(event))
  }
}

interface Recorded {
  readonly order: number
  readonly event: AuditEvent
}

// A copy down to its owner, actor and date: what is kept cannot be changed through what was given or handed out
// (a Date stays changeable even frozen).
function copyOf(event: AuditEvent): AuditEvent {
  return {
    ...event,
    at: new Date(event.at),
    actor: event.actor && { ...event.actor },
    owner: event.owner && { ...event.owner },
  }
}
