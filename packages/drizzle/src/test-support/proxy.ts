import net from 'node:net'

/**
 * A TCP proxy in front of the PostgreSQL server, so a test can take "the database" down, make it hang, and bring
 * it back, without touching the server other tests share.
 */
export interface DatabaseProxy {
  readonly port: number
  /** Connections accepted so far, from the start. */
  readonly accepted: number
  /** Cut every connection and refuse new ones: the database is down. */
  down(): Promise<void>
  /** Keep connections open but pass nothing either way: the database hangs. */
  hang(): void
  /** Forward again: connections that hung are cut, and clients open new ones. */
  up(): Promise<void>
  /** Forward again, letting connections that hung, and those opened meanwhile, carry on where they were. */
  resume(): void
  close(): Promise<void>
}

export async function startProxy(target: { host: string; port: number }): Promise<DatabaseProxy> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket | null }>()
  let hanging = false
  let port = 0
  let accepted = 0
  let server: net.Server | null = null

  const forward = (pair: { client: net.Socket; upstream: net.Socket | null }) => {
    const { client } = pair
    if (pair.upstream === null) {
      const upstream = net.connect(target)
      pair.upstream = upstream
      upstream.on('error', () => client.destroy())
      upstream.on('close', () => client.destroy())
    }
    client.pipe(pair.upstream).pipe(client)
    client.resume()
    pair.upstream.resume()
  }

  const listen = () =>
    new Promise<void>((resolve) => {
      const listening = net.createServer((client) => {
        const pair = { client, upstream: null as net.Socket | null }
        pairs.add(pair)
        accepted++
        client.on('error', () => {})
        client.on('close', () => {
          pairs.delete(pair)
          pair.upstream?.destroy()
        })
        if (!hanging) forward(pair)
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
    get accepted() {
      return accepted
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
    resume: () => {
      hanging = false
      for (const pair of pairs) forward(pair)
    },
    close: down,
  }
}
