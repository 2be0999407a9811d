import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorHandler } from './index.js'

// An error after the answer has started: there is no status left to send, so errorHandler leaves it to Express,
// which ends the connection, and reports nothing of its own.
describe('errorHandler after the answer has started', () => {
  const reported: unknown[] = []
  let server: ReturnType<ReturnType<typeof express>['listen']>
  let url: string
  beforeAll(async () => {
    const app = express()
    app.get('/stream', (_req, res, next) => {
      res.write('partial')
      next(new Error('failed mid-answer'))
    })
    app.use(errorHandler({ report: (error) => void reported.push(error) }))
    // Express's own handler would print the stack; the test keeps the output quiet.
    app.use((_error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.destroy()
    })
    server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }, 10_000)
  afterAll(() => new Promise<void>((done) => server.close(() => done())), 10_000)

  it('passes the error on, so the broken answer is cut off rather than dressed as a success', async () => {
    await expect(fetch(`${url}/stream`).then((response) => response.text())).rejects.toThrow()
    expect(reported).toEqual([])
  })
})
