/**
 * One benchmark server, run as its own process: `node dist/http/server.js <framework> <mode>`. It prints
 * `READY <port> <token>` once listening; the runner drives it with autocannon from another process.
 *
 * Routes: `GET /hit`. In `bare` mode it answers `{"ok":true}` with no auth at all; in `memory` mode the same
 * answer sits behind the adapter's `auth` + `abilities('read')`, verifying a bearer token against the memory store.
 */
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { abilities as expressAbilities, auth as expressAuth } from '@jetstream/express'
import { abilities as honoAbilities, auth as honoAuth } from '@jetstream/hono'
import { abilities as koaAbilities, auth as koaAuth } from '@jetstream/koa'
import { createTokens, MemoryTokenStore, PermissionRegistry, type TokenService } from '@jetstream/tokens'
import { Router } from '@koa/router'
import express from 'express'
import { Hono } from 'hono'
import Koa from 'koa'

export type Framework = 'hono' | 'koa' | 'express'
export type Mode = 'bare' | 'memory'

const [framework, mode] = process.argv.slice(2) as [Framework, Mode]
const permissions = new PermissionRegistry({ permissions: ['read'], defaults: ['read'] })
const tokens = createTokens({ store: new MemoryTokenStore(), permissions })
const { plainTextToken } = await tokens.create('1', 'bench', ['read'])
const user = { id: '1' }
const guard = { user: () => user }
const body = { ok: true }

function ready(port: number): void {
  process.stdout.write(`READY ${port} ${plainTextToken}\n`)
}

function hono(t: TokenService<'read'>): void {
  const app = new Hono()
  if (mode === 'memory') app.get('/hit', honoAuth(t, guard), honoAbilities('read'), (c) => c.json(body))
  else app.get('/hit', (c) => c.json(body))
  serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => ready(info.port))
}

function koa(t: TokenService<'read'>): void {
  const app = new Koa()
  const router = new Router()
  const handler = (ctx: Koa.Context) => {
    ctx.body = body
  }
  if (mode === 'memory') router.get('/hit', koaAuth(t, guard), koaAbilities('read'), handler)
  else router.get('/hit', handler)
  app.use(router.routes())
  const server = app.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port))
}

function expressApp(t: TokenService<'read'>): void {
  const app = express()
  const handler = (_req: express.Request, res: express.Response) => {
    res.json(body)
  }
  if (mode === 'memory') app.get('/hit', expressAuth(t, guard), expressAbilities('read'), handler)
  else app.get('/hit', handler)
  const server = app.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port))
}

;({ hono, koa, express: expressApp })[framework](tokens)
process.on('SIGTERM', () => tokens.close().finally(() => process.exit(0)))
