import { drizzleStore, migrate } from '@jetstream/drizzle'
import { createTokens, PermissionRegistry } from '@jetstream/tokens'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import { pairedRatio } from '../measure.js'
import { peerKey } from './better-auth.js'
import { type HttpResult, type HttpScenario, runHttp } from './run-http.js'
import { issueTokens, writeTokens } from './token-set.js'

export interface VerificationTable {
  readonly rows: string[]
  readonly results: readonly HttpResult[]
}

/**
 * Issue 6's table: every way of verifying a token behind one route, each as its own server process under
 * autocannon, interleaved, with ratios to bare Hono and to the raw floor of the same database.
 */
export async function benchVerification(serverUrl: string): Promise<VerificationTable> {
  const schema = `jetstream_bench_http_${process.pid}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`drop schema if exists ${schema} cascade; create schema ${schema}`)
  const setup = postgres(serverUrl, { max: 1, onnotice: () => {}, connection: { search_path: schema } })
  try {
    await migrate(drizzle(setup))
    const permissions = new PermissionRegistry({ permissions: ['read'], defaults: ['read'] })
    const tokens = createTokens({ store: drizzleStore(drizzle(setup)), permissions })
    const plains = await issueTokens(tokens)
    await tokens.close()
    const env = {
      DATABASE_URL: serverUrl,
      BENCH_SCHEMA: schema,
      BENCH_TOKENS_FILE: writeTokens(plains, 'server'),
      BENCH_PEER_KEY: await peerKey(serverUrl, schema),
    }

    const scenario = (
      name: string,
      framework: string,
      mode: string,
      tokens: 'distinct' | 'one' = 'distinct',
    ): HttpScenario => ({ name, args: [framework, mode], tokens, env })
    const scenarios: HttpScenario[] = [
      scenario('bare Hono route, no auth', 'hono', 'bare'),
      scenario("Hono's own bearerAuth, one static token", 'hono', 'bearer-auth'),
      scenario("Hono's own bearerAuth, one static token, synchronous sha256", 'hono', 'bearer-auth-sync'),
      scenario('raw floor: sha256 + primary-key select, postgres.js', 'hono', 'raw-postgres'),
      scenario('raw floor: sha256 + primary-key select, PGlite', 'hono', 'raw-pglite'),
      scenario('@jetstream/hono, drizzle on the server, uncached', 'hono', 'drizzle-postgres'),
      scenario(
        '@jetstream/hono, drizzle on the server, uncached, one token repeated',
        'hono',
        'drizzle-postgres',
        'one',
      ),
      scenario('@jetstream/hono, drizzle on the server, cached', 'hono', 'drizzle-postgres-cached'),
      scenario('@jetstream/hono, drizzle on PGlite, uncached', 'hono', 'drizzle-pglite'),
      scenario('@jetstream/hono, drizzle on PGlite, cached', 'hono', 'drizzle-pglite-cached'),
      scenario('@jetstream/hono, memory store', 'hono', 'memory'),
      scenario("peer: better-auth's API-key plugin, verifyApiKey", 'hono', 'better-auth'),
      scenario('bare Koa route', 'koa', 'bare'),
      scenario('@jetstream/koa, drizzle on the server, cached', 'koa', 'drizzle-postgres-cached'),
      scenario('bare Express route', 'express', 'bare'),
      scenario('@jetstream/express, drizzle on the server, cached', 'express', 'drizzle-postgres-cached'),
    ]
    const results = await runHttp(scenarios, { rounds: 3, seconds: 5 })
    const rounds = (name: string) => results.find((r) => r.name === name)?.perRound ?? []
    const bareHono = rounds('bare Hono route, no auth')
    const floorFor = (r: HttpResult) =>
      r.name.includes('PGlite')
        ? rounds('raw floor: sha256 + primary-key select, PGlite')
        : r.name.includes('server') || r.name.includes('postgres.js') || r.name.includes('better-auth')
          ? rounds('raw floor: sha256 + primary-key select, postgres.js')
          : null
    // Ratios round by round: each round's row against the same round's bare route or floor.
    const rows = results.map((r) => {
      const floor = floorFor(r)
      return `| ${r.name} | ${Math.round(r.requestsPerSecond).toLocaleString('en-US')}/s | ${pairedRatio(r.perRound, bareHono).toFixed(2)} | ${
        floor === null ? '' : pairedRatio(r.perRound, floor).toFixed(2)
      } | ${r.statementsPerRequest.toFixed(3)} | ${r.cpuMicrosPerRequest.toFixed(1)} µs | ${r.errors} |`
    })
    return { rows, results }
  } finally {
    await setup.end({ timeout: 1 })
    await admin.unsafe(`drop schema if exists ${schema} cascade`)
    await admin.end()
  }
}
