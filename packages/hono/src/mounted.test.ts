import { createTokens, MemoryTokenStore } from '@jetstream/tokens'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { type AuthEnv, apiTokenRoutes, auth } from './index.js'

// Where the app mounts the routes, Hono's router matches the decoded path: the routes take a request only when
// the words of their path came as written, and a parameter's segment as whatever it holds, as Express and Koa do.
function mounted(at: string) {
  const tokens = createTokens({ store: new MemoryTokenStore() })
  const app = new Hono<AuthEnv>()
  app.use('*', auth(tokens, { session: () => ({ id: '1' }), user: () => ({ id: '1' }) }))
  app.route(at, apiTokenRoutes(tokens))
  return { tokens, app }
}

describe('the token routes mounted below a path of the app', () => {
  it('answer below a parameter, whatever its segment holds, encoded or not', async () => {
    const { tokens, app } = mounted('/teams/:team')
    const { token } = await tokens.create('1', 'CI', ['read'])
    for (const team of ['7', 'a%20b', '%E2%9C%93']) {
      const response = await app.request(`http://localhost/teams/${team}/user/api-tokens`)
      expect(response.status, team).toBe(200)
      expect(
        (await response.json()).tokens.map((t: { id: string }) => t.id),
        team,
      ).toEqual([token.id])
    }
  })

  it('take no request whose words of the path were percent-encoded, below a base path or not', async () => {
    const { tokens, app } = mounted('/api')
    const { token } = await tokens.create('1', 'CI', ['read'])
    const sent = [
      `/api/user/api-tokens/${token.id}`.replace('/api/', '/%61pi/'),
      `/api/user/api%2Dtokens/${token.id}`,
      `/api/%75ser/api-tokens/${token.id}`,
    ]
    for (const path of sent) {
      const response = await app.request(`http://localhost${path}`, {
        method: 'DELETE',
        headers: { origin: 'http://localhost', host: 'localhost' },
      })
      expect(response.status, path).toBe(404)
    }
    expect((await tokens.list('1')).map((t) => t.id)).toEqual([token.id])
    const deleted = await app.request(`http://localhost/api/user/api-tokens/${token.id}`, {
      method: 'DELETE',
      headers: { origin: 'http://localhost', host: 'localhost' },
    })
    expect(deleted.status).toBe(204)
  })
})
