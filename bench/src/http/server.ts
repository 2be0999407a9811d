/**
 * One benchmark server, run as its own process: `node dist/http/server.js <framework> <mode>`. It prints
 * `READY <port> <tokens file>` once listening (the plain texts it accepts, one per line); the runner drives
 * `GET /hit` with autocannon from another process and reads `GET /__stats` (requests served, statements sent)
 * between rounds.
 *
 * Modes:
 * - `bare`: `{"ok":true}` with no auth at all;
 * - `bearer-auth`: Hono's own `bearerAuth` with one static token (no store), hashing with WebCrypto (its default);
 * - `bearer-auth-sync`: the same with a synchronous `node:crypto` sha256 as its `hashFunction`, its fastest;
 * - `raw-postgres`, `raw-pglite`: the floor, written plainly: sha256 + one primary-key select + constant-time compare;
 * - `memory`: the adapter's `auth` + `abilities('read')` on the memory store;
 * - `drizzle-postgres`, `drizzle-pglite` (+ `-cached`): the same on the drizzle store, without / with the cache;
 * - `better-auth`: better-auth's API-key plugin, `verifyApiKey`, on the same PostgreSQL (`BENCH_PEER_KEY`);
 * - any of them `+limit-memory` or `+limit-redis`: with `rateLimit` (limits no request reaches) counted in memory
 *   or in Redis (`REDIS_URL`); `+traced`: with `telemetry: openTelemetry()` on the SDK's providers, no exporter.
 * Server scenarios use the schema named by `BENCH_SCHEMA` on `DATABASE_URL`, where the runner created the tokens
 * listed in `BENCH_TOKENS_FILE`; the other stores get as many tokens of their own (token-set.ts).
 */
import { hash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
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
import { extraOptions } from './extras.js'
import { countingPglite, fillCache, issueTokens, warmTokens, writeTokens } from './token-set.js'

export type Framework = 'hono' | 'koa' | 'express'
const [framework, scenarioMode] = process.argv.slice(2) as [Framework, string]
// `<mode>+<extra>`: the mode's route with rate limits kept in memory or Redis (`limit-memory`, `limit-redis`), or
// with OpenTelemetry spans and metrics recorded and exported nowhere (`traced`).
const [mode, extra = ''] = scenarioMode.split('+') as [string, string?]
const permissions = new PermissionRegistry({ permissions: ['read'], defaults: ['read'] })
const stats = { requests: 0, statements: 0 }
const body = { ok: true }

// The floor's select: the whole row, as the store reads it and as the in-process floor (drizzle.ts) selects it,
// since a check that hands the app its token needs every column (name, owner, times).
const FLOOR_SELECT =
  'select id, tokenable_type, tokenable_id, name, token, abilities, last_used_at, expires_at, created_at, updated_at from personal_access_tokens where id = $1'

// The database behind the scenario, counting every statement it is sent.
let store: TokenStore = new MemoryTokenStore()
let rawLookup: ((id: string) => Promise<{ token: string } | undefined>) | null = null
// Only the server scenarios use the tokens the runner created in PostgreSQL; the others make their own.
let plains = mode.includes('postgres')
  ? readFileSync(process.env.BENCH_TOKENS_FILE as string, 'utf8').split('\n')
  : []
if (mode.includes('postgres')) {
  const client = postgres(process.env.DATABASE_URL as string, {
    max: 10,
    onnotice: () => {},
    connection: { search_path: process.env.BENCH_SCHEMA as string },
    debug: () => void stats.statements++,
  })
  store = drizzleStore(drizzlePostgres(client))
  rawLookup = async (id) =>
    (await client.unsafe(FLOOR_SELECT, [id], { prepare: true }))[0] as { token: string } | undefined
} else if (mode.includes('pglite')) {
  const lite = countingPglite(stats)
  const db = drizzlePglite(lite)
  await migrate(db)
  store = drizzleStore(db)
  rawLookup = async (id) => (await lite.query<{ token: string }>(FLOOR_SELECT, [id])).rows[0]
}
// Steady state: every token was used just now, so no touch is due during the run. A service of its own does that,
// since close() also ends the serving service's change feed.
const warmup = createTokens({ store, permissions })
// A bare route gets tokens too: it ignores them, but the load generator then does the same work for every row.
if (plains.length === 0) plains = await issueTokens(warmup)
await warmTokens(warmup, plains)
const tokens = createTokens({
  store,
  permissions,
  cache: mode.endsWith('-cached'),
  ...extraOptions(extra),
})
// A cache in steady state holds every token in use: fill it before the runner starts measuring.
if (mode.endsWith('-cached')) await fillCache(tokens, plains, stats)
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
// better-auth checks one key of its own (made by the runner).
if (peer) plains = [process.env.BENCH_PEER_KEY ?? '']

// Hono's bearerAuth holds one static token and accepts only RFC 6750 token characters: the secret part alone.
const first = plains[0] ?? ''
const staticToken = first.slice(first.indexOf('|') + 1)
if (mode.startsWith('bearer-auth')) plains = [staticToken]
const tokensFile = writeTokens(plains, `${framework}-${scenarioMode}`)

function ready(port: number): void {
  process.stdout.write(`READY ${port} ${tokensFile}\n`)
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
