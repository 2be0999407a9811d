import { MisconfigurationError, type TokenChangeListener } from '@jetstream/tokens'
import { sql } from 'drizzle-orm'
import { driverOf } from './driver-of.js'
import type { AnyPgDatabase } from './drizzle-token-store.js'
import { changeTriggers } from './migrate.js'

/** The channel the migration's triggers announce token changes on. */
const CHANGE_CHANNEL = 'personal_access_tokens'

/**
 * Listens on the channel through the database's own driver; resolves to a function that stops listening.
 * `onRelisten` is called when the driver re-established a dropped listening connection by itself: changes made
 * while it was down were missed. `onLost` is called as soon as a listening connection the driver does not restore
 * by itself is gone.
 */
type Listen = (
  onPayload: (payload: string) => void,
  onRelisten: () => void,
  onLost: () => void,
) => Promise<() => Promise<void>>

interface PostgresJsClient {
  listen(
    channel: string,
    onNotify: (payload: string) => void,
    onListen: () => void,
  ): Promise<{ unlisten(): Promise<void> }>
}
interface PgliteClient {
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>
}
interface NodePostgresPool {
  connect(): Promise<{
    query(text: string): Promise<unknown>
    on(event: 'notification', listener: (message: { channel: string; payload?: string }) => void): void
    on(event: 'error' | 'end', listener: () => void): void
    release(destroy?: boolean): void
  }>
}

/**
 * Follows the token changes that PostgreSQL announces (LISTEN/NOTIFY, fed by the migration's triggers) and tells a
 * verification cache about them.
 *
 * Before it listens, it checks the catalog for the table's change triggers: without them it reports `refused` (once
 * until they appear) and the cache stays off. A listening connection can drop without a word. postgres.js
 * re-listens by itself (then the cache starts afresh, since changes may have been missed in the gap) but gives up
 * silently if the server was down at that moment. node-postgres says when its connection is gone: the cache is
 * bypassed at once and the feed listens anew. So the feed also checks itself: every `probeInterval` it NOTIFYs a
 * fresh nonce on the channel, and as long as the last one has not come back it reports `delivering(false)` (the
 * cache is bypassed) and subscribes anew, triggers check included.
 *
 * @example
 * ```ts
 * const stop = new ChangeFeed(db, { probeInterval: 1_000 }).start({ changed, delivering })
 * await stop()
 * ```
 */
export class ChangeFeed {
  readonly #db: AnyPgDatabase
  readonly #listen: Listen | null
  readonly #probeInterval: number
  readonly #inProcess: boolean

  constructor(db: AnyPgDatabase, options: { probeInterval: number }) {
    this.#db = db
    this.#listen = listenerFor(db)
    this.#probeInterval = options.probeInterval
    this.#inProcess = driverOf(db) === 'pglite'
  }

  // Whether the table the store reads (first on the search path) has its three change triggers, enabled.
  async #triggersFound(): Promise<boolean> {
    const result = await this.#db.execute(
      sql`select count(*)::int as found from pg_trigger
        where tgrelid = to_regclass('personal_access_tokens') and tgenabled <> 'D'
          and tgname in (${sql.join(
            TRIGGER_NAMES.map((name) => sql`${name}`),
            sql`, `,
          )})`,
    )
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as {
      found: number
    }[]
    return rows[0]?.found === TRIGGER_NAMES.length
  }

  /** False when the driver offers no way to listen (then a cache only has its lifetime to go by). */
  get supported(): boolean {
    return this.#listen !== null
  }

  /**
   * Starts following changes; resolves nothing, reports through `listener`. The returned function stops it.
   *
   * @example
   * ```ts
   * const stop = feed.start({ changed: (ids) => cache.invalidate(ids ?? []), delivering: (live) => cache.trust(live) })
   * ```
   */
  start(listener: TokenChangeListener): () => Promise<void> {
    const listen = this.#listen
    if (!listen) return async () => {}
    let stopped = false
    let live = false
    let unlisten: (() => Promise<void>) | null = null
    let awaited: string | null = null
    let timer: ReturnType<typeof setInterval> | undefined
    let refused = false

    const report = (next: boolean) => {
      if (next !== live) {
        live = next
        listener.delivering(next)
      }
    }
    const onPayload = (payload: string) => {
      if (payload.startsWith('probe:')) {
        if (payload === awaited) {
          awaited = null
          report(true)
        }
      } else if (payload === '*') listener.changed(null)
      else listener.changed([payload])
    }
    const subscribe = async () => {
      const previous = unlisten
      unlisten = null
      await previous?.().catch(() => {})
      if (stopped) return
      // Listening is worth nothing if nobody sends: without the triggers a change made elsewhere is never heard.
      // Checked on every (re)subscription, so a table migrated after the service started is picked up.
      const found = await this.#triggersFound().catch(() => null)
      if (found === false) {
        report(false)
        if (!refused) listener.refused(new MisconfigurationError(MISSING_TRIGGERS))
        refused = true
        return
      }
      if (found) refused = false
      // A listening connection the driver re-opened by itself may have missed changes: start the cache afresh.
      const onRelisten = () => {
        if (!live) return
        listener.delivering(false)
        listener.delivering(true)
      }
      // A connection lost under the feed: changes may be missed from this instant, so stop trusting now; trust
      // again once a probe comes back over the new connection, not a probe interval later.
      const onLost = () => {
        if (stopped) return
        report(false)
        void subscribe().then(() => {
          if (stopped) return
          awaited = null
          void probe()
        })
      }
      try {
        unlisten = await listen(onPayload, onRelisten, onLost)
        if (stopped) await unlisten()
        else if (this.#inProcess) report(true)
      } catch {
        // The server is unreachable: the next probe finds the nonce missing and tries again.
      }
    }
    const probe = async () => {
      if (awaited !== null) {
        // The last probe never came back: changes may be missed. Stop trusting and listen anew.
        report(false)
        await subscribe()
      }
      const nonce = `probe:${Math.random().toString(36).slice(2)}`
      awaited = nonce
      await this.#db.execute(sql`select pg_notify(${CHANGE_CHANNEL}, ${nonce})`).catch(() => {})
    }

    void subscribe().then(() => {
      if (stopped) return
      void probe()
      timer = setInterval(() => void probe(), this.#probeInterval)
      // Following changes must not keep a Node process alive on its own.
      ;(timer as { unref?: () => void }).unref?.()
    })
    return async () => {
      stopped = true
      clearInterval(timer)
      report(false)
      await unlisten?.()
    }
  }
}

const TRIGGER_NAMES = ['update', 'delete', 'truncate'].map(
  (event) => `personal_access_tokens_notify_${event}`,
)

const MISSING_TRIGGERS = `The table personal_access_tokens has no change triggers (or they are disabled), so a token revoked by another instance or by plain SQL would stay in this instance's cache. The cache stays off until they exist: call migrate(db), or with drizzle-kit run \`drizzle-kit generate --custom --name=change_triggers\`, paste @jetstream/drizzle/migrations/${changeTriggers.name}.sql into the file it makes, and migrate. The SQL:

${changeTriggers.statements.join('\n\n')}`

function listenerFor(db: AnyPgDatabase): Listen | null {
  const client = (db as { $client?: unknown }).$client
  switch (driverOf(db)) {
    case 'postgres.js': {
      const sql = client as PostgresJsClient
      return async (onPayload, onRelisten) => {
        let listened = false
        // postgres.js calls this on the first LISTEN and again each time it re-listens after a dropped connection.
        const { unlisten } = await sql.listen(CHANGE_CHANNEL, onPayload, () => {
          if (listened) onRelisten()
          listened = true
        })
        return unlisten
      }
    }
    case 'pglite':
      return (onPayload) => (client as PgliteClient).listen(CHANGE_CHANNEL, onPayload)
    case 'node-postgres': {
      // A pool lends a connection to hold for listening; a single shared Client cannot be spared.
      if (typeof (client as { totalCount?: unknown }).totalCount !== 'number') return null
      const pool = client as NodePostgresPool
      return async (onPayload, _onRelisten, onLost) => {
        // A connection of its own, held for as long as it listens.
        const connection = await pool.connect()
        let released = false
        const lost = () => {
          if (released) return
          released = true
          connection.release(true)
          onLost()
        }
        connection.on('notification', (message) => {
          if (message.channel === CHANGE_CHANNEL && message.payload !== undefined) onPayload(message.payload)
        })
        connection.on('error', lost)
        connection.on('end', lost)
        await connection.query(`LISTEN ${CHANGE_CHANNEL}`)
        return async () => {
          if (released) return
          released = true
          connection.release(true)
        }
      }
    }
    default:
      return null
  }
}
