import { randomBytes } from 'node:crypto'
import type { TokenService } from '@jetstream/tokens'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Permission } from './permissions.js'
import { createTokenService } from './tokens.js'
import { demoCredentials } from './users.js'

/** A running example app. */
export interface RunningServer {
  readonly url: string
  close(): Promise<void>
}

/** Starts an example app on a free 127.0.0.1 port. */
export type StartExample = (options: {
  tokens: TokenService<Permission>
  sessionKey: string
}) => Promise<RunningServer>

/**
 * The behaviour every example app must show, through real HTTP: the page, sign-in with a cookie session, a token
 * issued on the page's routes that the posts API honours within its permissions and the shared policy, sign-out.
 */
export function exampleAppTests(framework: string, start: StartExample): void {
  let server: RunningServer
  const tokens = createTokenService()
  beforeAll(async () => {
    server = await start({ tokens, sessionKey: randomBytes(32).toString('hex') })
  })
  afterAll(() => server.close())

  async function signedInCookie(): Promise<string> {
    const response = await fetch(`${server.url}/session`, signInWith(demoCredentials))
    expect(response.status).toBe(200)
    return cookieHeader(response)
  }

  // A sign-in as the page sends it: JSON, from the app's own origin.
  function signInWith(body: unknown, headers: Record<string, string> = {}): RequestInit {
    return {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.url, ...headers },
      body: JSON.stringify(body),
    }
  }

  describe(`the ${framework} example app`, () => {
    it('sends a session cookie to the sign-in only, once, and never to a bearer API call', async () => {
      const signIn = await fetch(`${server.url}/session`, signInWith(demoCredentials))
      expect(sessionCookies(signIn)).toHaveLength(1)
      const { plainTextToken } = await tokens.create('1', 'cookie check', ['read'])
      const bearer = { authorization: `Bearer ${plainTextToken}` }
      for (const response of [
        await fetch(`${server.url}/api/posts`, { headers: bearer }),
        await fetch(`${server.url}/api/posts/none`, { headers: bearer }),
        await fetch(`${server.url}/api/posts`, { headers: { authorization: 'Bearer 1|nope' } }),
        await fetch(`${server.url}/api/posts`),
      ]) {
        expect(response.headers.getSetCookie()).toEqual([])
      }
      const page = await fetch(`${server.url}/`)
      expect(page.headers.getSetCookie()).toEqual([])
    })

    it('serves the API-token page', async () => {
      const response = await fetch(`${server.url}/`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await response.text()).toContain('API Token')
    })

    it('signs in with the demo credentials and refuses wrong ones', async () => {
      const wrong = await fetch(
        `${server.url}/session`,
        signInWith({ email: demoCredentials.email, password: 'nope' }),
      )
      expect(wrong.status).toBe(422)
      const cookie = await signedInCookie()
      const me = await fetch(`${server.url}/session`, { headers: { cookie } })
      expect((await me.json()).user.email).toBe(demoCredentials.email)
      expect((await fetch(`${server.url}/session`)).status).toBe(401)
    })

    it('throttles sign-ins as Jetstream does: five failures a minute for an email from one address, then 429', async () => {
      const wrong = signInWith({ email: 'other@example.com', password: 'nope' })
      for (let i = 0; i < 5; i++) expect((await fetch(`${server.url}/session`, wrong)).status).toBe(422)
      // The right password too, and the email in another case: one count, as Fortify lower-cases it.
      for (const email of ['other@example.com', 'Other@Example.com']) {
        const refused = await fetch(`${server.url}/session`, signInWith({ email, password: 'password' }))
        expect(refused.status).toBe(429)
        expect(refused.headers.get('content-type')).toBe('application/json')
        const wait = Number(refused.headers.get('retry-after'))
        expect(wait).toBeGreaterThan(0)
        expect(wait).toBeLessThanOrEqual(60)
        expect(await refused.json()).toEqual({
          message: `Too many login attempts. Please try again in ${wait} seconds.`,
          code: 'too_many_requests',
          errors: { email: [`Too many login attempts. Please try again in ${wait} seconds.`] },
        })
        expect(sessionCookies(refused)).toEqual([])
      }
      // Another user at the same address is not held back.
      expect((await fetch(`${server.url}/session`, signInWith(demoCredentials))).status).toBe(200)
    })

    it('issues a token on the page routes that the posts API honours, within its permissions and the policy', async () => {
      const cookie = await signedInCookie()
      const origin = server.url
      const created = await fetch(`${server.url}/user/api-tokens`, {
        method: 'POST',
        headers: { cookie, origin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'Example test', permissions: ['read', 'update'] }),
      })
      expect(created.status).toBe(201)
      const { plainTextToken } = (await created.json()) as { plainTextToken: string }
      const bearer = { authorization: `Bearer ${plainTextToken}`, 'content-type': 'application/json' }

      expect((await fetch(`${server.url}/api/posts`, { headers: bearer })).status).toBe(200)
      const own = await fetch(`${server.url}/api/posts/1`, {
        method: 'PUT',
        headers: bearer,
        body: JSON.stringify({ title: 'Edited' }),
      })
      expect(own.status).toBe(200)
      const theirs = await fetch(`${server.url}/api/posts/2`, {
        method: 'PUT',
        headers: bearer,
        body: JSON.stringify({ title: 'No' }),
      })
      expect(theirs.status).toBe(403)
      const create = await fetch(`${server.url}/api/posts`, {
        method: 'POST',
        headers: bearer,
        body: JSON.stringify({ title: 'No' }),
      })
      expect(create.status).toBe(403)
      expect((await create.json()).abilities).toEqual(['create'])
    })

    it('refuses a sign-in from another site, or not sent as JSON (login CSRF)', async () => {
      const foreign = { origin: 'https://evil.example' }
      // What a cross-site <form enctype="text/plain"> can send: no preflight, the JSON in its one field.
      const form = await fetch(`${server.url}/session`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', ...foreign },
        body: '{"email":"demo@example.com","password":"password","x":"="}',
      })
      expect(form.status).toBe(415)
      for (const headers of [foreign, { origin: 'null' }]) {
        const response = await fetch(`${server.url}/session`, signInWith(demoCredentials, headers))
        expect(response.status).toBe(403)
        expect(response.headers.getSetCookie()).toEqual([])
      }
      const noOrigin = await fetch(`${server.url}/session`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(demoCredentials),
      })
      expect(noOrigin.status).toBe(403)
    })

    it('signs out for good: the session cookie sent before is worthless after', async () => {
      const cookie = await signedInCookie()
      const out = await fetch(`${server.url}/session`, {
        method: 'DELETE',
        headers: { cookie, origin: server.url },
      })
      expect(out.status).toBe(204)
      // The browser is told to forget the cookie: set empty, already expired.
      const cleared = sessionCookies(out)
      expect(cleared).toHaveLength(1)
      expect(cleared[0]).toMatch(/^session=;.*(?:max-age=0|expires=thu, 01 jan 1970)/i)
      const after = cookieHeader(out)
      expect((await fetch(`${server.url}/session`, { headers: { cookie: after } })).status).toBe(401)
      // The cookie a thief copied before the sign-out.
      expect((await fetch(`${server.url}/session`, { headers: { cookie } })).status).toBe(401)
      const mint = await fetch(`${server.url}/user/api-tokens`, {
        method: 'POST',
        headers: { cookie, origin: server.url, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'stolen' }),
      })
      expect(mint.status).toBe(401)
    })

    it('answers a path no route has with the same JSON 404, signed in or not', async () => {
      const cookie = await signedInCookie()
      for (const headers of [{}, { cookie }]) {
        for (const [method, path] of [
          ['GET', '/nope'],
          ['GET', '/favicon.ico'],
          ['PATCH', '/api/posts'],
          // Routes match as written: case, a trailing slash and the words of a path count.
          ['GET', '/api/posts/'],
          ['GET', '/API/POSTS'],
          ['GET', '/USER/API-TOKENS'],
          ['GET', '/user/api-tokensX'],
        ] as const) {
          const what = `${method} ${path}${'cookie' in headers ? ', signed in' : ''}`
          const response = await fetch(`${server.url}${path}`, { method, headers })
          expect(response.status, what).toBe(404)
          expect(response.headers.get('content-type'), what).toBe('application/json')
          expect(await response.json(), what).toEqual({ message: 'Not found.', code: 'not_found' })
          expect(response.headers.get('www-authenticate'), what).toBeNull()
        }
      }
    })

    it('sends its own JSON as the token routes send theirs: application/json, no charset', async () => {
      const cookie = await signedInCookie()
      const { plainTextToken } = await tokens.create('1', 'content type', ['read'])
      const answers = [
        await fetch(`${server.url}/session`),
        await fetch(`${server.url}/session`, { headers: { cookie } }),
        await fetch(`${server.url}/session`, signInWith({ email: demoCredentials.email, password: 'nope' })),
        await fetch(`${server.url}/api/posts`, { headers: { authorization: `Bearer ${plainTextToken}` } }),
        await fetch(`${server.url}/api/posts/none`, {
          headers: { authorization: `Bearer ${plainTextToken}` },
        }),
        await fetch(`${server.url}/user/api-tokens`, { headers: { cookie } }),
      ]
      expect(answers.map((answer) => answer.status)).toEqual([401, 200, 422, 200, 404, 200])
      for (const answer of answers) expect(answer.headers.get('content-type')).toBe('application/json')
    })

    it('keeps the token routes first-party and the user’s own: another origin, a bearer token and another user’s ids get nothing', async () => {
      const cookie = await signedInCookie()
      // Another port of the same host is the same site to a browser, so SameSite lets its cookie through.
      const otherPort = new URL(server.url)
      otherPort.port = String(Number(otherPort.port) === 65_535 ? 1 : Number(otherPort.port) + 1)
      const foreign = await fetch(`${server.url}/user/api-tokens`, {
        method: 'POST',
        headers: { cookie, origin: otherPort.origin, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'from next door' }),
      })
      expect(foreign.status).toBe(403)
      const { plainTextToken } = await tokens.create('1', 'bearer', ['read', 'create'])
      const bearer = await fetch(`${server.url}/user/api-tokens`, {
        headers: { authorization: `Bearer ${plainTextToken}` },
      })
      expect(bearer.status).toBe(403)
      expect((await bearer.json()).code).toBe('session_required')
      const theirs = await tokens.create('2', 'another user’s', ['read'])
      const id = theirs.token.id
      for (const [method, path, body] of [
        ['PUT', `/user/api-tokens/${id}`, JSON.stringify({ permissions: ['read', 'delete'] })],
        ['DELETE', `/user/api-tokens/${id}`, undefined],
        ['POST', `/user/api-tokens/${id}/rotate`, '{}'],
      ] as const) {
        const response = await fetch(`${server.url}${path}`, {
          method,
          headers: { cookie, origin: server.url, 'content-type': 'application/json' },
          ...(body !== undefined && { body }),
        })
        expect(response.status, `${method} ${path}`).toBe(404)
      }
      expect((await tokens.list('2')).map((token) => [token.id, token.abilities])).toEqual([[id, ['read']]])
      // The trail outlives its tokens, so an id finds its events whether its token is there or not; never another
      // user's.
      const events = await fetch(`${server.url}/user/api-tokens/${id}/events`, { headers: { cookie } })
      expect(events.status).toBe(200)
      expect(await events.json()).toEqual({ events: [] })
    })

    it('reads a post’s body as the token routes do: 415, 400 and 413 from the core, the same everywhere', async () => {
      const { plainTextToken } = await tokens.create('1', 'bodies', ['create'])
      const post = (headers: Record<string, string>, body: string) =>
        fetch(`${server.url}/api/posts`, {
          method: 'POST',
          headers: { authorization: `Bearer ${plainTextToken}`, ...headers },
          body,
        })
      const answers = [
        await post({ 'content-type': 'text/plain' }, '{"title":"x"}'),
        await post({ 'content-type': 'application/json' }, '{bad'),
        await post({ 'content-type': 'application/json' }, JSON.stringify({ title: 'x'.repeat(200_000) })),
      ]
      expect(answers.map((answer) => answer.status)).toEqual([415, 400, 413])
      const codes = await Promise.all(answers.map(async (answer) => (await answer.json()).code))
      expect(codes).toEqual(['unsupported_media_type', 'bad_request', 'payload_too_large'])
      const made = await post({ 'content-type': 'application/json' }, JSON.stringify({ title: 'Read alike' }))
      expect(made.status).toBe(201)
      // Nothing a framework adds on its own: the same headers from every app.
      expect(made.headers.get('x-powered-by')).toBeNull()
      expect(made.headers.get('etag')).toBeNull()
    })
  })
}

// The Cookie header a browser would send next: the last value of each cookie set (a session middleware may set
// one twice, or add a signature cookie).
function cookieHeader(response: Response): string {
  const cookies = new Map<string, string>()
  for (const line of response.headers.getSetCookie()) {
    const pair = line.split(';')[0] as string
    cookies.set(pair.slice(0, pair.indexOf('=')), pair)
  }
  return [...cookies.values()].join('; ')
}

// The Set-Cookie headers of a response that set the session cookie itself (Koa signs it in a second cookie).
function sessionCookies(response: Response): string[] {
  return response.headers.getSetCookie().filter((cookie) => cookie.startsWith('session='))
}
