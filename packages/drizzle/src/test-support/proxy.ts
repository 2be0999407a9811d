import net from 'node:net'

/**
 * A TCP proxy in front of the PostgreSQL server, so a test can take "the database" down, make it hang, and bring
 * it back, without touching the server other tests share.
 */
export interface DatabaseProxy {
  readonly port: number
  /** Cut every connection and refuse new ones: the database is down. */
  down(): Promise<void>
  /** Keep connections open but pass nothing either way: the database hangs. */
  hang(): void
  /** Forward again. */
  up(): Promise<void>
  close(): Promise<void>
}

export async function startProxy(target: { host: string; port: number }): Promise<DatabaseProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket | null }>()
  let hanging = false
  let port = 0
  let server: net.Server | null = null

  const listen = () =>
    new Promise<void>((resolve) => {
      const listening = net.createServer((client) => {
        const pair = { client, upstream: null as net.Socket | null }
        pairs.add(pair)
        client.on('error', () => {})
        client.on('close', () => {
          pairs.delete(pair)
          pair.upstream?.destroy()
        })
        if (hanging) return
        const upstream = net.connect(target)
        pair.upstream = upstream
        upstream.on('error', () => client.destroy())
        upstream.on('close', () => client.destroy())
        client.pipe(upstream).pipe(client)
      })
      listening.listen(port, '127.0.0.1', () => {
        port = (listening.address() as net.AddressInfo).port
        server = listening
        resolve()
      })
    })
  await listen()

  const down = async () => {
    const closing = server
    server = null
    for (const { client, upstream } of pairs) {
      client.destroy()
      upstream?.destroy()
    }
    if (closing) await new Promise<void>((resolve) => closing.close(() => resolve()))
  }
  return {
    get port() {
      return port
    },
    down,
    hang: () => {
      hanging = true
      for (const { client, upstream } of pairs) {
        client.unpipe()
        upstream?.unpipe()
        client.pause()
        upstream?.pause()
      }
    },
    up: async () => {
      hanging = false
      for (const pair of pairs) {
        pair.client.destroy() // connections that hung are not trusted again; clients open new ones
        pair.upstream?.destroy()
      }
      if (!server) await listen()
    },
    close: down,
  }
}
