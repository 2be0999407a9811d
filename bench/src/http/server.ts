/**
 * One benchmark server, run as its own process: `node dist/http/server.js <framework> <mode>`. It prints
 * `READY <port> <token>` once listening; the runner drives `GET /hit` with autocannon from another process and
 * reads `GET /__stats` (requests served, statements sent) between rounds.
 *
 * Modes:
 * - `bare`: `{"ok":true}` with no auth at all;
 * - `bearer-auth`: Hono's own `bearerAuth` with one static token (no store), hashing with WebCrypto (its default);
 * - `bearer-auth-sync`: the same with a synchronous `node:crypto` sha256 as its `hashFunction`, its fastest;
 * - `raw-postgres`, `raw-pglite`: the floor, written plainly: sha256 + one primary-key select + constant-time compare;
 * - `memory`: the adapter's `auth` + `abilities('read')` on the memory store;
 * - `drizzle-postgres`, `drizzle-pglite` (+ `-cached`): the same on the drizzle store, without / with the cache;
 * - `better-auth`: better-auth's API-key plugin, `verifyApiKey`, on the same PostgreSQL (`BENCH_PEER_KEY`).
 * Server scenarios use the schema named by `BENCH_SCHEMA` on `DATABASE_URL`, where the runner created `BENCH_TOKEN`.
 */
import { hash } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import { PGlite } from '@electric-sql/pglite'
import { serve } from '@hono/node-server'
import { drizzleStore, migrate } from '@jetstream/drizzle'
import { abilities as expressAbilities, auth as expressAuth } from '@jetstream/express'
import { abilities as honoAbilities, auth as honoAuth } from '@jetstream/hono'
import { abilities as koaAbilities, auth as koaAuth } from '@jetstream/koa'
import {
  createTokens,
  MemoryTokenStore,
  PermissionRegistry,
  type TokenService,
  type TokenStore,
} from '@jetstream/tokens'
import { Router } from '@koa/router'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import express from 'express'
import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import Koa from 'koa'
import postgres from 'postgres'

export type Framework = 'hono' | 'koa' | 'express'
const [framework, mode] = process.argv.slice(2) as [Framework, string]
const permissions = new PermissionRegistry({ permissions: ['read'], defaults: ['read'] })
const stats = { requests: 0, statements: 0 }
const body = { ok: true }

// The database behind the scenario, counting every statement it is sent.
let store: TokenStore = new MemoryTokenStore()
let rawLookup: ((id: string) => Promise<{ token: string } | undefined>) | null = null
// Only the server scenarios use the token the runner created in PostgreSQL; the others make their own.
let token = mode.includes('postgres') ? (process.env.BENCH_TOKEN ?? '') : ''
if (mode.includes('postgres')) {
  const client = postgres(process.env.DATABASE_URL as string, {
    max: 10,
    onnotice: () => {},
    connection: { search_path: process.env.BENCH_SCHEMA as string },
    debug: () => void stats.statements++,
  })
  store = drizzleStore(drizzlePostgres(client))
  rawLookup = async (id) =>
    (
      await client.unsafe(
        'select id, token, abilities, expires_at, created_at from personal_access_tokens where id = $1',
        [id],
        { prepare: true },
      )
    )[0] as { token: string } | undefined
} else if (mode.includes('pglite')) {
  const lite = new PGlite()
  const query = lite.query.bind(lite)
  const execProtocol = lite.execProtocol.bind(lite)
  lite.query = ((...args: Parameters<PGlite['query']>) => {
    stats.statements++
    return query(...args)
  }) as PGlite['query']
  // The store's prepared lookup: one statement bound and run per call.
  lite.execProtocol = ((...args: Parameters<PGlite['execProtocol']>) => {
    stats.statements++
    return execProtocol(...args)
  }) as PGlite['execProtocol']
  const db = drizzlePglite(lite)
  await migrate(db)
  store = drizzleStore(db)
  rawLookup = async (id) =>
    (
      await lite.query<{ token: string }>(
        'select id, token, abilities, expires_at, created_at from personal_access_tokens where id = $1',
        [id],
      )
    ).rows[0]
}
// Steady state: the token was used just now, so no touch is due during the run. A service of its own does that,
// since close() also ends the serving service's change feed.
const warmup = createTokens({ store, permissions })
if (!token) token = (await warmup.create('1', 'bench', ['read'])).plainTextToken
await warmup.authenticate(token)
await warmup.close()
const tokens = createTokens({ store, permissions, cache: mode.endsWith('-cached') })
stats.statements = 0

const user = { id: '1' }
const guard = { user: () => user }

// Imported only where it runs: its module graph is large, and the other scenarios' processes should not carry it.
const peer =
  mode === 'better-auth'
    ? (await import('./better-auth.js')).peerAuth(
        process.env.DATABASE_URL as string,
        process.env.BENCH_SCHEMA as string,
        () => void stats.statements++,
      )
    : null
if (peer) token = process.env.BENCH_PEER_KEY ?? ''

// Hono's bearerAuth accepts only RFC 6750 token characters, so its static token is the secret part alone.
const staticToken = token.slice(token.indexOf('|') + 1)

function ready(port: number): void {
  process.stdout.write(`READY ${port} ${mode.startsWith('bearer-auth') ? staticToken : token}\n`)
  stats.statements = 0
}

// The floor: what a hand-written check costs on the same database.
async function rawCheck(authorization: string | undefined): Promise<boolean> {
  const plain = authorization?.startsWith('Bearer ') ? authorization.slice(7) : ''
  const bar = plain.indexOf('|')
  if (bar < 1 || !rawLookup) return false
  const row = await rawLookup(plain.slice(0, bar))
  if (!row) return false
  const expected = hash('sha256', plain.slice(bar + 1), 'hex')
  let difference = expected.length ^ row.token.length
  for (let i = 0; i < expected.length; i++) difference |= expected.charCodeAt(i) ^ row.token.charCodeAt(i)
  return difference === 0
}

function hono(t: TokenService<'read'>): void {
  const app = new Hono()
  app.get('/__stats', (c) => c.json(stats))
  const count: MiddlewareHandler = async (_c, next) => {
    stats.requests++
    await next()
  }
  if (mode === 'bare') app.get('/hit', count, (c) => c.json(body))
  else if (mode === 'bearer-auth')
    app.get('/hit', count, bearerAuth({ token: staticToken }), (c) => c.json(body))
  else if (mode === 'bearer-auth-sync') {
    const hashFunction = (data: string) => hash('sha256', data, 'hex')
    app.get('/hit', count, bearerAuth({ token: staticToken, hashFunction }), (c) => c.json(body))
  } else if (peer)
    app.get('/hit', count, async (c) => {
      const key = (c.req.header('authorization') ?? '').replace(/^Bearer /, '')
      const result = await peer.auth.api.verifyApiKey({ body: { key } })
      return result.valid ? c.json(body) : c.json({ message: 'Unauthenticated.' }, 401)
    })
  else if (mode.startsWith('raw-'))
    app.get('/hit', count, async (c: Context) =>
      (await rawCheck(c.req.header('authorization')))
        ? c.json(body)
        : c.json({ message: 'Unauthenticated.' }, 401),
    )
  else app.get('/hit', count, honoAuth(t, guard), honoAbilities('read'), (c) => c.json(body))
  serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => ready(info.port))
}

function koa(t: TokenService<'read'>): void {
  const app = new Koa()
  const router = new Router()
  router.get('/__stats', (ctx) => {
    ctx.body = stats
  })
  const handler = (ctx: Koa.Context) => {
    stats.requests++
    ctx.body = body
  }
  if (mode === 'bare') router.get('/hit', handler)
  else router.get('/hit', koaAuth(t, guard), koaAbilities('read'), handler)
  app.use(router.routes())
  const server = app.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port))
}

function expressApp(t: TokenService<'read'>): void {
  const app = express()
  app.get('/__stats', (_req, res) => {
    res.json(stats)
  })
  const handler = (_req: express.Request, res: express.Response) => {
    stats.requests++
    res.json(body)
  }
  if (mode === 'bare') app.get('/hit', handler)
  else app.get('/hit', expressAuth(t, guard), expressAbilities('read'), handler)
  const server = app.listen(0, '127.0.0.1', () => ready((server.address() as AddressInfo).port))
}

;({ hono, koa, express: expressApp })[framework](tokens)
process.on('SIGTERM', () => tokens.close().finally(() => process.exit(0)))
