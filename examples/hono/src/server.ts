import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { type AppOptions, createApp } from './app.js'

/** A running example server. */
export interface RunningServer {
  readonly url: string
  close(): Promise<void>
}

/** Serves the example app on 127.0.0.1 (port 0: any free port). */
export function startServer(options: AppOptions & { port?: number }): Promise<RunningServer> {
  const app = createApp(options)
  return new Promise((resolve) => {
    const server = serve(
      { fetch: app.fetch, port: options.port ?? 0, hostname: '127.0.0.1' },
      (info: AddressInfo) =>
        resolve({
          url: `http://127.0.0.1:${info.port}`,
          close: () => new Promise<void>((done) => server.close(() => done())),
        }),
    )
  })
}
