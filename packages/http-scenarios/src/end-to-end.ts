import type { TokenStore } from '@jetstream/tokens'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSetup, type ScenarioSetup } from './fixture.js'
import type { RunningApp, StartApp } from './scenarios.js'

/**
 * One end-to-end run on a real database: a session user creates a token on the management routes, uses it on
 * the API, widens it, sees its last use, deletes it. `open` gives the store (say, the drizzle store on PGlite).
 */
export function endToEnd(
  framework: string,
  start: StartApp,
  open: () => Promise<{ store: TokenStore; close(): Promise<void> }>,
): void {
  describe(`${framework} end to end on a real database`, () => {
    let database: { store: TokenStore; close(): Promise<void> }
    let setup: ScenarioSetup
    let app: RunningApp
    // The database boots here, with room for a busy machine, never inside a test's own time.
    beforeAll(async () => {
      database = await open()
      setup = createSetup(database.store)
      app = await start(setup)
    }, 60_000)
    afterAll(async () => {
      await app?.close()
      await database?.close()
    }, 60_000)

    it('create, use, widen, see last use, delete', async () => {
      const origin = new URL(app.url).origin
      const json = { 'content-type': 'application/json' }
      const session = { cookie: 'session=1', origin }
      const created = await fetch(`${app.url}/user/api-tokens`, {
        method: 'POST',
        headers: { ...session, ...json },
        body: JSON.stringify({ name: 'End to end', permissions: ['read'] }),
      })
      expect(created.status).toBe(201)
      const { token, plainTextToken } = (await created.json()) as {
        token: { id: string }
        plainTextToken: string
      }
      const bearer = { authorization: `Bearer ${plainTextToken}`, ...json }

      expect((await fetch(`${app.url}/posts/10`, { headers: bearer })).status).toBe(200)
      expect(
        (await fetch(`${app.url}/posts/10`, { method: 'PUT', headers: bearer, body: '{}' })).status,
      ).toBe(403)

      const widened = await fetch(`${app.url}/user/api-tokens/${token.id}`, {
        method: 'PUT',
        headers: { ...session, ...json },
        body: JSON.stringify({ permissions: ['read', 'update'] }),
      })
      expect(widened.status).toBe(200)
      expect(
        (await fetch(`${app.url}/posts/10`, { method: 'PUT', headers: bearer, body: '{}' })).status,
      ).toBe(200)

      await setup.tokens.close() // flush the coalesced last-used touch
      const listed = (await (await fetch(`${app.url}/user/api-tokens`, { headers: session })).json()) as {
        tokens: { id: string; lastUsedAt: string | null }[]
      }
      expect(listed.tokens.find((t) => t.id === token.id)?.lastUsedAt).not.toBeNull()

      expect(
        (await fetch(`${app.url}/user/api-tokens/${token.id}`, { method: 'DELETE', headers: session }))
          .status,
      ).toBe(204)
      expect((await fetch(`${app.url}/posts/10`, { headers: bearer })).status).toBe(401)
    })
  })
}
