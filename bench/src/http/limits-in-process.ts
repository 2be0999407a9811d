import { drizzleStore, migrate } from '@jetstream/drizzle'
import { abilities, auth } from '@jetstream/hono'
import { createTokens, PermissionRegistry, type TokenService } from '@jetstream/tokens'
import { drizzle } from 'drizzle-orm/pglite'
import { Hono } from 'hono'
import { type Measured, measure } from '../measure.js'
import { closeExtras, type Extra, extraOptions } from './extras.js'
import { countingPglite, fillCache, issueTokens, warmTokens } from './token-set.js'

/**
 * The cached Hono route of the `limits` part, each variant an app of its own in this one process, driven through
 * `app.request` in interleaved slices (A B C D A B C D …, 15 rounds × 200 ms): no sockets, no second process, so a
 * neighbour that slows the machine for a second slows every variant alike, and each variant's CPU per request
 * differs from the route's by what the variant adds. One PGlite, one token table of 10,000; each app has its own
 * service and cache. 16 requests are kept in flight, so the Redis variant's commands share round trips as they
 * do under load; the others answer at once.
 */
export async function limitsInProcess(
  variants: readonly { readonly name: string; readonly extra: Extra }[],
): Promise<Measured[]> {
  const counted = { statements: 0 }
  const lite = countingPglite(counted)
  const db = drizzle(lite)
  await migrate(db)
  const store = drizzleStore(db)
  const permissions = new PermissionRegistry({ permissions: ['read'], defaults: ['read'] })
  const setup = createTokens({ store, permissions })
  const plains = await issueTokens(setup)
  await warmTokens(setup, plains)
  const user = { id: '1' }
  const services: TokenService<'read'>[] = []
  try {
    const scenarios = []
    for (const { name, extra } of variants) {
      const tokens = createTokens({ store, permissions, cache: true, ...extraOptions(extra) })
      services.push(tokens)
      await fillCache(tokens, plains, counted)
      const app = new Hono()
      app.get('/hit', auth(tokens, { user: () => user }), abilities('read'), (c) => c.json({ ok: true }))
      let next = 0
      scenarios.push({
        name,
        run: () =>
          app.request('/hit', {
            headers: { authorization: `Bearer ${plains[next++ % plains.length] as string}` },
          }),
      })
    }
    return await measure(scenarios, { rounds: 15, sliceMs: 200, concurrency: 16 })
  } finally {
    await Promise.all(services.map((tokens) => tokens.close()))
    await closeExtras()
    await lite.close()
  }
}
