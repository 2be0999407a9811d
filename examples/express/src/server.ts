import type { AddressInfo } from 'node:net'
import type { RunningServer } from '@examples/shared/testing'
import { type AppOptions, createApp } from './app.js'

/** Serves the example app on 127.0.0.1 (port 0: any free port). */
export async function startServer(options: AppOptions & { port?: number }): Promise<RunningServer> {
  const server = createApp(options).listen(options.port ?? 0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  }
}
