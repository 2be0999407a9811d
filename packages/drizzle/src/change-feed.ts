import { MisconfigurationError, type TokenChangeListener } from '@jetstream/tokens'
import { sql } from 'drizzle-orm'
import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core'
import type Postgres from 'postgres'
import { driverOf } from './driver-of.js'
import type { AnyPgDatabase } from './drizzle-token-store.js'
import { changeTriggers } from './migrate.js'

/** The table the migration's triggers are made for, first on the search path. */
const ANNOUNCED_TABLE = 'personal_access_tokens'
/** The channel the migration's triggers announce token changes on. */
const CHANGE_CHANNEL = 'personal_access_tokens'

/**
 * Listens on the channel through the database's own driver; resolves to a function that stops listening.
 * `onLost` is called as soon as the listening connection is gone: changes may be missed from that instant.
 */
type Listen = (onPayload: (payload: string) => void, onLost: () => void) => Promise<() => Promise<void>>

/** What the feed reads of a postgres.js client: the options it was built with, to open a connection alike. */
interface PostgresJsClient {
  readonly options: Record<string, unknown>
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
 * until they appear) and the cache stays off. When its listening connection closes, it reports `delivering(false)`
 * at that instant (the cache is bypassed), listens anew and trusts again once a probe comes back. A connection can
 * also go quiet without closing (a server that hangs, a network that drops packets), so the feed checks itself:
 * every `probeInterval` it NOTIFYs a fresh nonce on the channel, and as long as the last one has not come back it
 * reports `delivering(false)` and subscribes anew, triggers check included.
 *
 * @example
 * ```ts
 * const feed = ChangeFeed.on(db, db, personalAccessTokens, { probeInterval: 1_000 })
 * const stop = typeof feed === 'string' ? null : feed.start({ changed, delivering, refused })
 * await stop?.()
 * ```
 */
export class ChangeFeed {
  readonly #db: AnyPgDatabase
  readonly #listen: Listen
  readonly #probeInterval: number
  readonly #inProcess: boolean

  /**
   * The feed of `table`'s changes, or why there can be none: `listen`'s driver offers no way to listen (a single
   * node-postgres `Client`, a driver other than postgres.js, node-postgres and PGlite), or the change triggers do
   * not announce that table. `db` is the store's own database: the triggers are looked for and the probes sent
   * there, so a `listen` database that is not the store's (another database, another search path) never hears a
   * probe and the cache stays off. `listen` is where the feed listens.
   *
   * @example
   * ```ts
   * const feed = ChangeFeed.on(db, directDb, personalAccessTokens, { probeInterval: 1_000 })
   * if (typeof feed === 'string') throw new MisconfigurationError(feed)
   * ```
   */
  static on(
    db: AnyPgDatabase,
    listen: AnyPgDatabase,
    table: PgTable,
    options: { probeInterval: number },
  ): ChangeFeed | string {
    const listener = listenerFor(listen)
    if (listener === null) return UNLISTENABLE
    return (
      unannounced(table) ?? new ChangeFeed(db, listener, options.probeInterval, driverOf(listen) === 'pglite')
    )
  }

  private constructor(db: AnyPgDatabase, listen: Listen, probeInterval: number, inProcess: boolean) {
    this.#db = db
    this.#listen = listen
    this.#probeInterval = probeInterval
    this.#inProcess = inProcess
  }

  // Whether the table the store reads (first on the search path) has its three change triggers, firing: enabled
  // for every session ('O') or always ('A'); a trigger enabled for replicas only ('R') fires in no app session.
  async #triggersFound(): Promise<boolean> {
    const result = await this.#db.execute(
      sql`select count(*)::int as found from pg_trigger
        where tgrelid = to_regclass(${ANNOUNCED_TABLE}) and tgenabled in ('O', 'A')
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
    let stopped = false
    let live = false
    let unlisten: (() => Promise<void>) | null = null
    let awaited: string | null = null
    let timer: ReturnType<typeof setInterval> | undefined
    let refused = false
    // Subscriptions are numbered: while the server is away several may be under way (one a probe), and only the
    // latest keeps the connection it opens; one that lands after it closes its own, so none is left listening.
    let subscriptions = 0

    const report = (next: boolean) => {
      if (next !== live) {
        live = next
        listener.delivering(next)
      }
    }
    const onPayload = (payload: string) => {
      // A connection being closed may still hand over what it had: after `stop`, nothing is trusted again.
      if (stopped) return
      if (payload.startsWith('probe:')) {
        if (payload === awaited) {
          awaited = null
          report(true)
        }
      } else if (payload === '*') listener.changed(null)
      else listener.changed([payload])
    }
    // Listening is worth nothing if nobody sends: without the triggers a change made elsewhere is never heard.
    // Checked on every (re)subscription and every probe, so triggers dropped or disabled while the service runs
    // (a table made anew, `disable trigger all`) stop the trust within a probe interval, and a table migrated
    // after the service started is picked up. False only when the catalog says they are missing; a failed check
    // is left to the probe, which fails too.
    const triggersPresent = async (): Promise<boolean> => {
      const found = await this.#triggersFound().catch(() => null)
      if (found === false) {
        report(false)
        if (!refused) listener.refused(new MisconfigurationError(MISSING_TRIGGERS))
        refused = true
        return false
      }
      if (found) refused = false
      return true
    }
    const subscribe = async () => {
      const subscription = ++subscriptions
      const previous = unlisten
      unlisten = null
      await previous?.().catch(() => {})
      if (stopped || !(await triggersPresent())) return
      // A connection lost under the feed: changes may be missed from this instant, so stop trusting now; trust
      // again once a probe comes back over the new connection, not a probe interval later.
      const onLost = () => {
        if (stopped) return
        report(false)
        awaited = null
        void subscribe().then(() => {
          if (stopped) return
          awaited = null
          void probe()
        })
      }
      try {
        const opened = await listen(onPayload, onLost)
        if (stopped || subscription !== subscriptions) {
          await opened()
          return
        }
        unlisten = opened
        if (this.#inProcess) report(true)
      } catch {
        // The server is unreachable: the next probe finds the nonce missing and tries again.
      }
    }
    const probe = async () => {
      if (awaited !== null) {
        // The last probe never came back: changes may be missed. Stop trusting and listen anew; that probe, should
        // it arrive late on the connection being closed, trusts nothing (only one sent once listening anew does).
        report(false)
        awaited = null
        await subscribe()
      } else if (!(await triggersPresent())) {
        return
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

const UNLISTENABLE =
  "This drizzle database cannot listen for token changes (LISTEN/NOTIFY needs postgres.js, PGlite or a node-postgres Pool; a single node-postgres Client has no connection to spare), so a token revoked by another instance would stay in this instance's cache. The cache stays off: use one of those, or pass `listen` a database that can."

// Why the change triggers do not announce this table's changes, or null when they do: they are made for the table
// `personal_access_tokens` first on the search path (a Laravel table of that name included, once they are added).
function unannounced(table: PgTable): string | null {
  const { name, schema } = getTableConfig(table)
  if (name === ANNOUNCED_TABLE && schema === undefined) return null
  return `The change triggers announce changes to personal_access_tokens on the search path, not to ${schema === undefined ? '' : `${schema}.`}${name}, so a token revoked by another instance would stay in this instance's cache. The cache stays off: give drizzleStore a \`table\` named personal_access_tokens defined without a schema (\`pgTable\`, its schema first on the search_path), with the change triggers added, or leave \`cache\` off.`
}

const TRIGGER_NAMES = ['update', 'delete', 'truncate'].map(
  (event) => `personal_access_tokens_notify_${event}`,
)

const MISSING_TRIGGERS = `The table personal_access_tokens has no change triggers (or they are disabled), so a token revoked by another instance or by plain SQL would stay in this instance's cache. The cache stays off until they exist: call migrate(db), or with drizzle-kit run \`drizzle-kit generate --custom --name=change_triggers\`, paste @jetstream/drizzle/migrations/${changeTriggers.name}.sql into the file it makes, and migrate. The SQL:

${changeTriggers.statements.join('\n\n')}`

function listenerFor(db: AnyPgDatabase): Listen | null {
  const client = (db as { $client?: unknown }).$client
  switch (driverOf(db)) {
    case 'postgres.js':
      return listenOnPostgresJs(client as PostgresJsClient)
    case 'pglite':
      return (onPayload) => (client as PgliteClient).listen(CHANGE_CHANNEL, onPayload)
    case 'node-postgres': {
      // A pool lends a connection to hold for listening; a single shared Client cannot be spared.
      if (typeof (client as { totalCount?: unknown }).totalCount !== 'number') return null
      const pool = client as NodePostgresPool
      return async (onPayload, onLost) => {
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
        try {
          await connection.query(`LISTEN ${CHANGE_CHANNEL}`)
        } catch (error) {
          // Not listening (a standby refuses LISTEN, say): the connection goes back, destroyed, not kept.
          released = true
          connection.release(true)
          throw error
        }
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

// postgres.js's own `sql.listen` re-opens a dropped connection by itself, after its reconnect backoff, and says so
// only once it listens again: 15-30 ms and more in which a change is missed unseen. So the feed opens the same
// kind of connection `sql.listen` opens (the client's options, one connection, no idle or lifetime limit), and
// hears its loss at once through `onclose`. `onnotify` is how that connection hands over notifications: the
// option `sql.listen` itself gives it, which postgres.js reads but does not type. Like `sql.listen`, it passes the
// client's parsed options back in (postgres.js takes them as they are), hence the cast.
function listenOnPostgresJs(client: PostgresJsClient): Listen {
  return async (onPayload, onLost) => {
    const { default: postgres } = await import('postgres')
    // Lost only once it listened: a connection that never opened fails the LISTEN below instead.
    let listening = false
    const connection = postgres({
      ...client.options,
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: false,
      onnotify: (channel: string, payload: string) => {
        if (channel === CHANGE_CHANNEL) onPayload(payload)
      },
      onclose: () => {
        if (!listening) return
        listening = false
        void connection.end({ timeout: 0 })
        onLost()
      },
    } as unknown as PostgresOptions)
    try {
      await connection.unsafe(`listen ${CHANGE_CHANNEL}`)
      listening = true
    } catch (error) {
      await connection.end({ timeout: 0 })
      throw error
    }
    return async () => {
      listening = false
      await connection.end({ timeout: 1 })
    }
  }
}

type PostgresOptions = Postgres.Options<Record<string, Postgres.PostgresType>>
