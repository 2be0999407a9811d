import { drizzleStore, migrate } from '@jetstream/drizzle'
import { createTokens, MemoryTokenStore, PermissionRegistry } from '@jetstream/tokens'
import { drizzle as drizzleNodePostgres } from 'drizzle-orm/node-postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'

const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})

/** Heap bytes per cached token: 10 000 verified tokens kept, measured around a forced GC (`--expose-gc`). */
export async function bytesPerCachedToken(): Promise<number | null> {
  const gc = (globalThis as { gc?: () => void }).gc
  if (!gc) return null
  const store = new MemoryTokenStore()
  const source = createTokens({ store, permissions, lastUsed: false })
  const plain: string[] = []
  for (let i = 0; i < 10_000; i++)
    plain.push((await source.create(String(i), `token ${i}`, ['read', 'update'])).plainTextToken)
  // Fill the cache, then empty it (prune clears it): the heap difference is the cache's entries alone, whatever
  // else was allocated or compiled on the way.
  const cached = createTokens({ store, permissions, lastUsed: false, cache: { maxEntries: 20_000 } })
  for (const text of plain) await cached.authenticate(text)
  gc()
  const full = process.memoryUsage().heapUsed
  await cached.prune()
  gc()
  const empty = process.memoryUsage().heapUsed
  return (full - empty) / plain.length
}

/**
 * How long a second instance takes to refuse a token the first revoked: two services with their own connection
 * pools and caches on one PostgreSQL schema, the change reaching B through LISTEN/NOTIFY. 20 revocations.
 */
export async function revocationDelays(serverUrl: string): Promise<{ median: number; worst: number }> {
  const schema = `jetstream_bench_revoke_${process.pid}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema}`)
  const clientA = postgres(serverUrl, { onnotice: () => {}, connection: { search_path: schema } })
  const clientB = postgres(serverUrl, { onnotice: () => {}, connection: { search_path: schema } })
  // The table first: a cache whose feed finds no change triggers stays off until its next probe.
  await migrate(drizzle(clientA))
  const a = createTokens({ store: drizzleStore(drizzle(clientA)), permissions, cache: true, lastUsed: false })
  const b = createTokens({ store: drizzleStore(drizzle(clientB)), permissions, cache: true, lastUsed: false })
  try {
    const delays: number[] = []
    for (let i = 0; i < 20; i++) {
      const { token, plainTextToken } = await a.create('1', `revoke ${i}`, ['read'])
      // Wait until B answers it from its cache, so the revocation has something to undo.
      for (let tries = 0; tries < 200 && (await b.authenticate(plainTextToken)) === null; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      await b.authenticate(plainTextToken)
      await a.revoke('1', token.id)
      const revokedAt = performance.now()
      while ((await b.authenticate(plainTextToken)) !== null) {
        if (performance.now() - revokedAt > 5_000) throw new Error('B never saw the revocation')
        // Yield to I/O between tries, as a server does between requests: answers from the cache are pure
        // microtasks, and a loop of them alone would never let the notification in.
        await new Promise((resolve) => setImmediate(resolve))
      }
      delays.push(performance.now() - revokedAt)
    }
    delays.sort((x, y) => x - y)
    return { median: delays[delays.length >> 1] as number, worst: delays[delays.length - 1] as number }
  } finally {
    await a.close()
    await b.close()
    await clientA.end({ timeout: 1 })
    await clientB.end({ timeout: 1 })
    await admin.unsafe(`drop schema if exists ${schema} cascade`)
    await admin.end()
  }
}

/** Median and worst of a series of delays, in milliseconds. */
export interface Delays {
  readonly median: number
  readonly worst: number
}

/**
 * How long an instance takes to refuse a token revoked while its listening connection is lost, with each driver:
 * B's LISTEN backend is killed, A revokes the token at once (its NOTIFY reaches nobody), and B is asked until it
 * refuses. Timed from the moment the kill returns, and from the moment A's revocation returns (what is left is
 * B's own part: noticing, and one lookup); 10 trials per driver, B back to answering from its cache before each.
 * B's feed probes once a minute, so only its reaction to the lost connection can explain a refusal.
 */
export async function listenLossDelays(
  serverUrl: string,
): Promise<Record<'postgres.js' | 'node-postgres', { fromKill: Delays; fromRevocation: Delays }>> {
  const schema = `jetstream_bench_listen_${process.pid}`
  const name = `jetstream_bench_b_${process.pid}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema}`)
  const clientA = postgres(serverUrl, { onnotice: () => {}, connection: { search_path: schema } })
  await migrate(drizzle(clientA))
  const a = createTokens({ store: drizzleStore(drizzle(clientA)), permissions, lastUsed: false })
  let statements = 0
  const clientB = postgres(serverUrl, {
    onnotice: () => {},
    connection: { search_path: schema, application_name: name },
    debug: () => void statements++,
  })
  const pool = new pg.Pool({
    connectionString: serverUrl,
    application_name: name,
    options: `-c search_path=${schema}`,
  })
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown
  pool.query = ((...args: unknown[]) => {
    statements++
    return query(...args)
  }) as typeof pool.query
  const stores = {
    'postgres.js': drizzleStore(drizzle(clientB), { probeInterval: 60_000 }),
    'node-postgres': drizzleStore(drizzleNodePostgres(pool), { probeInterval: 60_000 }),
  }
  try {
    const result = {} as Record<keyof typeof stores, { fromKill: Delays; fromRevocation: Delays }>
    for (const [driver, store] of Object.entries(stores) as [
      keyof typeof stores,
      (typeof stores)[keyof typeof stores],
    ][]) {
      const b = createTokens({ store, permissions, cache: true, lastUsed: false })
      const fromKill: number[] = []
      const fromRevocation: number[] = []
      try {
        for (let i = 0; i < 10; i++) {
          const { token, plainTextToken } = await a.create('1', `lost ${i}`, ['read'])
          // Until B answers from its cache (listening again after the last kill): a second use sends nothing.
          for (let tries = 0; ; tries++) {
            if (tries === 1_000) throw new Error(`B on ${driver} never answered from its cache`)
            await b.authenticate(plainTextToken)
            const before = statements
            await b.authenticate(plainTextToken)
            if (statements === before) break
            await new Promise((resolve) => setTimeout(resolve, 5))
          }
          await admin.unsafe(
            `select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and query ilike 'listen%'`,
            [name],
          )
          const killedAt = performance.now()
          await a.revoke('1', token.id)
          const revokedAt = performance.now()
          while ((await b.authenticate(plainTextToken)) !== null) {
            if (performance.now() - killedAt > 5_000)
              throw new Error(`B on ${driver} never refused the token`)
            await new Promise((resolve) => setImmediate(resolve))
          }
          fromKill.push(performance.now() - killedAt)
          fromRevocation.push(performance.now() - revokedAt)
        }
      } finally {
        await b.close()
      }
      result[driver] = { fromKill: medianAndWorst(fromKill), fromRevocation: medianAndWorst(fromRevocation) }
    }
    return result
  } finally {
    await a.close()
    await clientA.end({ timeout: 1 })
    await clientB.end({ timeout: 1 })
    await pool.end()
    await admin.unsafe(`drop schema if exists ${schema} cascade`)
    await admin.end()
  }
}

function medianAndWorst(delays: number[]): Delays {
  const sorted = [...delays].sort((x, y) => x - y)
  return { median: sorted[sorted.length >> 1] as number, worst: sorted[sorted.length - 1] as number }
}
