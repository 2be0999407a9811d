import net from 'node:net'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import { createTokens, StorageUnavailableError } from '@jetstream/tokens'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import type { Delays } from './cache.js'

const TIMEOUT = 500

/**
 * How long lookups wait for their 503 while the server hangs under load: a store with a 500 ms `timeout` reaches
 * PostgreSQL through a TCP proxy that, once told, passes nothing either way (the server stopped, the connections
 * still open). 60 lookups of distinct tokens are asked 25 ms apart, so many wait behind statements already stuck;
 * each is timed from its own ask to its StorageUnavailableError (a lookup waiting behind a statement that timed
 * out fails with it, sooner than its own timeout).
 */
export async function deadlineWaits(
  serverUrl: string,
): Promise<Delays & { timeout: number; answered: number }> {
  const target = new URL(serverUrl)
  const sockets = new Set<net.Socket>()
  const proxy = net.createServer((client) => {
    const upstream = net.connect(Number(target.port || 5432), target.hostname)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => sockets.delete(socket))
    }
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  const via = new URL(serverUrl)
  via.hostname = '127.0.0.1'
  via.port = String((proxy.address() as net.AddressInfo).port)
  const schema = `jetstream_bench_deadline_${process.pid}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema}`)
  const client = postgres(via.href, { max: 10, onnotice: () => {}, connection: { search_path: schema } })
  try {
    const db = drizzle(client)
    await migrate(db)
    const tokens = createTokens({ store: drizzleStore(db, { timeout: TIMEOUT }), lastUsed: false })
    const issued = await Promise.all(
      Array.from({ length: 60 }, (_, i) => tokens.create('1', `deadline ${i}`)),
    )
    // Every pooled connection open before the hang, as in a server that has been serving.
    await Promise.all(issued.map(({ plainTextToken }) => tokens.authenticate(plainTextToken)))
    // Hang: nothing passes either way; the connections stay open.
    for (const socket of sockets) socket.pause()
    const waits: Promise<number>[] = []
    for (const { plainTextToken } of issued) {
      const asked = performance.now()
      waits.push(
        tokens.authenticate(plainTextToken).then(
          () => Number.NaN,
          (error: unknown) =>
            error instanceof StorageUnavailableError ? performance.now() - asked : Number.NaN,
        ),
      )
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const waited = await Promise.all(waits)
    const sorted = waited.filter((ms) => !Number.isNaN(ms)).sort((x, y) => x - y)
    return {
      timeout: TIMEOUT,
      answered: sorted.length,
      median: sorted[sorted.length >> 1] ?? Number.NaN,
      worst: sorted[sorted.length - 1] ?? Number.NaN,
    }
  } finally {
    for (const socket of sockets) socket.destroy()
    await client.end({ timeout: 0 })
    await new Promise<void>((resolve) => proxy.close(() => resolve()))
    await admin.unsafe(`drop schema if exists ${schema} cascade`)
    await admin.end()
  }
}
