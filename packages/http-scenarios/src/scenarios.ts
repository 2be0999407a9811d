import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createSetup, type ScenarioSetup } from './fixture.js'

/** A running app: its base URL and how to stop it. */
export interface RunningApp {
  readonly url: string
  close(): Promise<void>
}

/** Builds the adapter's scenario app from the setup and listens on an ephemeral 127.0.0.1 port. */
export type StartApp = (setup: ScenarioSetup) => Promise<RunningApp>

interface Call {
  readonly token?: string
  readonly session?: string
  readonly origin?: string
  readonly referer?: string
  readonly body?: unknown
  readonly rawBody?: string
  readonly headers?: Record<string, string>
}

interface Answer {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are read as loosely as a client would.
  readonly json: any
}

/**
 * The HTTP behaviour every adapter must share, through real requests to a real server. Call it at the top level
 * of an adapter's test file with a function that starts that adapter's scenario app.
 */
export function httpScenarios(framework: string, start: StartApp, options: { cache?: boolean } = {}): void {
  const variant = options.cache ? ' (verification cache on)' : ''
  describe(`${framework}: the HTTP scenarios every adapter shares${variant}`, () => {
    let setup: ScenarioSetup
    let app: RunningApp
    beforeAll(async () => {
      setup = createSetup(undefined, options)
      app = await start(setup)
    })
    afterAll(() => app.close())
    beforeEach(() => {
      if (setup.outage) setup.outage.down = false
    })

    async function call(method: string, path: string, options: Call = {}): Promise<Answer> {
      const headers: Record<string, string> = { ...options.headers }
      if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`
      if (options.session) headers.cookie = `session=${options.session}`
      if (options.origin) headers.origin = options.origin
      if (options.referer) headers.referer = options.referer
      let body: string | undefined = options.rawBody
      if (options.body !== undefined) {
        body = JSON.stringify(options.body)
        headers['content-type'] = 'application/json'
      }
      if (options.rawBody !== undefined) headers['content-type'] = 'application/json'
      const response = await fetch(`${app.url}${path}`, {
        method,
        headers,
        ...(body !== undefined && { body }),
      })
      const text = await response.text()
      let json: unknown = null
      try {
        json = text ? JSON.parse(text) : null
      } catch {
        json = null
      }
      return { status: response.status, headers: response.headers, text, json }
    }

    const own = () => new URL(app.url).origin
    const tokenFor = async (
      userId: string,
      abilities: ('create' | 'read' | 'update' | 'delete')[],
      expiresAt?: Date,
    ) =>
      (await setup.tokens.create(userId, 'scenario', abilities, expiresAt ? { expiresAt } : {}))
        .plainTextToken

    function expectNoLeak(answer: Answer, ...secrets: string[]) {
      expect(answer.text).not.toMatch(/\bat .*\.(?:ts|js):\d+/) // no stack trace
      for (const secret of secrets) if (secret) expect(answer.text).not.toContain(secret)
    }

    describe('authentication', () => {
      it('answers 401 with a bare Bearer challenge when no credentials are sent', async () => {
        const answer = await call('GET', '/me')
        expect(answer.status).toBe(401)
        expect(answer.json).toEqual({ message: 'Unauthenticated.', code: 'unauthenticated' })
        expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="api"')
        expect(answer.headers.get('content-type')).toMatch(/^application\/json/)
      })

      it('lets optional routes through for a guest', async () => {
        const answer = await call('GET', '/maybe')
        expect(answer.status).toBe(200)
        expect(answer.json).toEqual({ user: null })
      })

      it('signs a session user in with a TransientToken that can do everything', async () => {
        const answer = await call('GET', '/me', { session: '1' })
        expect(answer.status).toBe(200)
        expect(answer.json).toEqual({
          user: { id: '1', name: 'Ada' },
          via: 'session',
          can: { create: true, read: true, update: true, delete: true },
        })
      })

      it('signs a token user in with exactly the token’s abilities', async () => {
        const answer = await call('GET', '/me', { token: await tokenFor('2', ['read']) })
        expect(answer.status).toBe(200)
        expect(answer.json).toEqual({
          user: { id: '2', name: 'Grace' },
          via: 'token',
          can: { create: false, read: true, update: false, delete: false },
        })
      })

      it('prefers the session to a bearer token, as Sanctum’s guard does', async () => {
        const answer = await call('GET', '/me', { session: '1', token: await tokenFor('2', ['read']) })
        expect(answer.json.user.id).toBe('1')
        expect(answer.json.via).toBe('session')
      })

      it.each([
        [
          'a wrong secret',
          async () => `${(await tokenFor('1', ['read'])).split('|')[0]}|${'A'.repeat(40)}${'0'.repeat(8)}`,
        ],
        ['a bad checksum', async () => `${(await tokenFor('1', ['read'])).slice(0, -1)}x`],
        ['an unknown id', async () => `999999|${(await tokenFor('1', ['read'])).split('|')[1]}`],
        ['garbage', async () => 'not-a-token'],
        ['an empty bearer', async () => ''],
      ])('refuses %s with 401 invalid_token', async (_, make) => {
        const token = await make()
        const answer = await call('GET', '/me', { token })
        expect(answer.status).toBe(401)
        expect(answer.json.code).toBe('unauthenticated')
        expect(answer.headers.get('www-authenticate')).toBe(
          'Bearer realm="api", error="invalid_token", error_description="The access token is invalid or expired."',
        )
        expectNoLeak(answer, token.split('|')[1] ?? token)
      })

      it('refuses an expired token', async () => {
        const token = await tokenFor('1', ['read'], new Date(setup.clock.now + 60_000))
        expect((await call('GET', '/me', { token })).status).toBe(200)
        setup.clock.now += 60_000
        const answer = await call('GET', '/me', { token })
        expect(answer.status).toBe(401)
        expect(answer.headers.get('www-authenticate')).toContain('error="invalid_token"')
      })

      it('refuses a revoked token', async () => {
        const { token, plainTextToken } = await setup.tokens.create('1', 'doomed', ['read'])
        expect((await call('GET', '/me', { token: plainTextToken })).status).toBe(200)
        await setup.tokens.revoke('1', token.id)
        expect((await call('GET', '/me', { token: plainTextToken })).status).toBe(401)
      })

      it('refuses a token whose owner no longer exists', async () => {
        const answer = await call('GET', '/me', { token: await tokenFor('404', ['read']) })
        expect(answer.status).toBe(401)
      })

      it('ignores other Authorization schemes', async () => {
        const answer = await call('GET', '/me', { headers: { authorization: 'Basic dXNlcjpwYXNz' } })
        expect(answer.status).toBe(401)
        expect(answer.headers.get('www-authenticate')).toBe('Bearer realm="api"')
      })

      it('reads the token from a custom header when configured', async () => {
        const token = await tokenFor('2', ['read'])
        expect((await call('GET', '/custom/me', { headers: { 'x-api-token': token } })).json).toEqual({
          user: { id: '2', name: 'Grace' },
        })
        expect((await call('GET', '/custom/me', { token })).status).toBe(401)
        // Present but empty is a token presented, and refused: not the same as no header at all.
        const empty = await call('GET', '/custom/me', { headers: { 'x-api-token': '' } })
        expect(empty.status).toBe(401)
        expect(empty.headers.get('www-authenticate')).toContain('error="invalid_token"')
      })
    })

    describe('first-party session requests that change state', () => {
      it('are refused with 403 from a foreign origin, or without one', async () => {
        for (const headers of [
          { origin: 'https://evil.example' },
          { referer: 'https://evil.example/page' },
          // Not the Referer header, whatever some frameworks' getters read as one.
          { headers: { referrer: `${own()}/user/api-tokens` } },
          // A sandboxed frame of the app's own pages: an opaque origin, the app's own Referer.
          { origin: 'null', referer: `${own()}/uploads/preview` },
          {},
        ]) {
          const answer = await call('POST', '/session/ping', { session: '1', ...headers })
          expect(answer.status).toBe(403)
          expect(answer.json.code).toBe('forbidden')
        }
      })

      it('pass from the app’s own origin, by Origin or by Referer', async () => {
        expect((await call('POST', '/session/ping', { session: '1', origin: own() })).status).toBe(200)
        expect(
          (await call('POST', '/session/ping', { session: '1', referer: `${own()}/user/api-tokens` })).status,
        ).toBe(200)
      })

      it('do not apply to bearer requests', async () => {
        const answer = await call('POST', '/session/ping', {
          token: await tokenFor('1', []),
          origin: 'https://evil.example',
        })
        expect(answer.status).toBe(200)
      })

      it('do not apply to reads', async () => {
        expect((await call('GET', '/me', { session: '1', origin: 'https://evil.example' })).status).toBe(200)
      })
    })

    describe('abilities and policies', () => {
      it('abilities(...) needs every ability: 403 insufficient_scope naming the missing ones', async () => {
        const reader = await tokenFor('1', ['read'])
        expect((await call('GET', '/posts/10', { token: reader })).status).toBe(200)
        const answer = await call('POST', '/posts', { token: reader, body: { title: 'x' } })
        expect(answer.status).toBe(403)
        expect(answer.json).toEqual({
          message: 'The token is missing the "create" ability.',
          code: 'missing_abilities',
          abilities: ['create'],
        })
        expect(answer.headers.get('www-authenticate')).toBe(
          'Bearer realm="api", error="insufficient_scope", scope="create"',
        )
        const writer = await tokenFor('1', ['create', 'read'])
        expect((await call('POST', '/posts', { token: writer, body: { title: 'x' } })).status).toBe(201)
      })

      it('ability(...) needs any one of them', async () => {
        expect((await call('DELETE', '/posts/10', { token: await tokenFor('1', ['update']) })).status).toBe(
          204,
        )
        expect((await call('DELETE', '/posts/10', { token: await tokenFor('1', ['delete']) })).status).toBe(
          204,
        )
        const answer = await call('DELETE', '/posts/10', { token: await tokenFor('1', ['read']) })
        expect(answer.status).toBe(403)
        expect(answer.json.abilities).toEqual(['delete', 'update'])
      })

      it('answer 401 without auth', async () => {
        expect((await call('GET', '/posts/10')).status).toBe(401)
        expect((await call('DELETE', '/posts/10')).status).toBe(401)
      })

      it('let a session user through every ability check', async () => {
        expect(
          (await call('POST', '/posts', { session: '1', origin: own(), body: { title: 'x' } })).status,
        ).toBe(201)
        expect((await call('DELETE', '/posts/20', { session: '1', origin: own() })).status).toBe(204)
      })

      it('the shared policy decides: own post yes, someone else’s 403', async () => {
        const updater = await tokenFor('1', ['update'])
        expect((await call('PUT', '/posts/10', { token: updater, body: { title: 'y' } })).json).toEqual({
          updated: true,
        })
        const answer = await call('PUT', '/posts/20', { token: updater, body: { title: 'y' } })
        expect(answer.status).toBe(403)
        expect(answer.json).toEqual({ message: 'This action is unauthorized.', code: 'forbidden' })
      })
    })

    describe('the token-management routes', () => {
      const base = '/user/api-tokens'
      const session = (extra: Call = {}): Call => ({ session: '1', origin: own(), ...extra })

      it('list the user’s own tokens with the available and default permissions, never a hash or secret', async () => {
        const created = await call('POST', base, session({ body: { name: 'Listed', permissions: ['read'] } }))
        await setup.tokens.create('2', 'Not mine', ['read'])
        const answer = await call('GET', base, { session: '1' })
        expect(answer.status).toBe(200)
        expect(answer.json.availablePermissions).toEqual(['create', 'read', 'update', 'delete'])
        expect(answer.json.defaultPermissions).toEqual(['read'])
        expect(answer.json.tokens.map((t: { name: string }) => t.name)).toContain('Listed')
        expect(answer.json.tokens.map((t: { name: string }) => t.name)).not.toContain('Not mine')
        expect(Object.keys(answer.json.tokens[0]).sort()).toEqual([
          'abilities',
          'createdAt',
          'expired',
          'expiresAt',
          'id',
          'lastUsedAt',
          'metadata',
          'name',
        ])
        expectNoLeak(answer, created.json.plainTextToken.split('|')[1])
        expect(answer.text).not.toMatch(/[0-9a-f]{64}/)
      })

      it('create a token shown once, with permissions filtered as Jetstream does', async () => {
        const answer = await call(
          'POST',
          base,
          session({ body: { name: ' CI ', permissions: ['read', 'fly', 'update', 'read'] } }),
        )
        expect(answer.status).toBe(201)
        expect(answer.json.token.name).toBe('CI')
        expect(answer.json.token.abilities).toEqual(['read', 'update'])
        expect(answer.json.plainTextToken).toMatch(/^\d+\|[A-Za-z0-9]{40}[0-9a-f]{8}$/)
        const me = await call('GET', '/me', { token: answer.json.plainTextToken })
        expect(me.json.can).toEqual({ create: false, read: true, update: true, delete: false })
      })

      it('take an expiry date', async () => {
        const expiresAt = new Date(setup.clock.now + 86_400_000).toISOString()
        const answer = await call(
          'POST',
          base,
          session({ body: { name: 'Short-lived', permissions: [], expiresAt } }),
        )
        expect(answer.status).toBe(201)
        expect(answer.json.token.expiresAt).toBe(expiresAt)
        const bad = await call('POST', base, session({ body: { name: 'x', expiresAt: 'tomorrow-ish' } }))
        expect(bad.status).toBe(422)
        expect(bad.json.errors.expiresAt).toBeDefined()
      })

      it.each([
        ['a missing name', { permissions: ['read'] }, 'The name field is required.'],
        ['an empty name', { name: '   ' }, 'The name field is required.'],
        ['a name that is not a string', { name: 42 }, 'The name field must be a string.'],
        [
          'a name of 256 characters',
          { name: 'x'.repeat(256) },
          'The name field must not be greater than 255 characters.',
        ],
      ])('refuse %s with 422 and field errors', async (_, body, message) => {
        const answer = await call('POST', base, session({ body }))
        expect(answer.status).toBe(422)
        expect(answer.json).toEqual({ message, code: 'invalid_input', errors: { name: [message] } })
      })

      it('keep metadata given at creation and list it with the token', async () => {
        const metadata = { environment: 'ci', repository: 'acme/api' }
        const answer = await call('POST', base, session({ body: { name: 'Tagged', metadata } }))
        expect(answer.status).toBe(201)
        expect(answer.json.token.metadata).toEqual(metadata)
        const listed = await call('GET', base, { session: '1' })
        const token = listed.json.tokens.find((t: { name: string }) => t.name === 'Tagged')
        expect(token.metadata).toEqual(metadata)
      })

      it('regenerate a token: a new plain text shown once, the old one refused at once', async () => {
        const created = await call(
          'POST',
          base,
          session({ body: { name: 'Rotated', permissions: ['read'] } }),
        )
        const answer = await call('POST', `${base}/${created.json.token.id}/rotate`, session({ body: {} }))
        expect(answer.status).toBe(201)
        expect(answer.json.token).toMatchObject({ name: 'Rotated', abilities: ['read'], expired: false })
        expect(answer.json.token.id).not.toBe(created.json.token.id)
        expect(answer.json.plainTextToken).toMatch(/^\d+\|[A-Za-z0-9]{40}[0-9a-f]{8}$/)
        expect((await call('GET', '/me', { token: created.json.plainTextToken })).status).toBe(401)
        expect((await call('GET', '/me', { token: answer.json.plainTextToken })).status).toBe(200)
      })

      it('regenerate with a grace period: both secrets work until it ends, then the old one is listed expired', async () => {
        const created = await call(
          'POST',
          base,
          session({ body: { name: 'Overlap', permissions: ['read'] } }),
        )
        const id = created.json.token.id
        const answer = await call('POST', `${base}/${id}/rotate`, session({ body: { grace: 60 } }))
        expect(answer.status).toBe(201)
        expect((await call('GET', '/me', { token: created.json.plainTextToken })).status).toBe(200)
        expect((await call('GET', '/me', { token: answer.json.plainTextToken })).status).toBe(200)
        setup.clock.now += 61 * 60_000
        expect((await call('GET', '/me', { token: created.json.plainTextToken })).status).toBe(401)
        expect((await call('GET', '/me', { token: answer.json.plainTextToken })).status).toBe(200)
        const listed = await call('GET', base, { session: '1' })
        const old = listed.json.tokens.find((t: { id: string }) => t.id === id)
        expect(old.expired).toBe(true)
      })

      it('regenerate only the user’s own token, only from the session', async () => {
        const theirs = await setup.tokens.create('2', 'Grace’s', ['read'])
        expect((await call('POST', `${base}/${theirs.token.id}/rotate`, session({ body: {} }))).status).toBe(
          404,
        )
        expect((await call('GET', '/me', { token: theirs.plainTextToken })).status).toBe(200)
        const mine = await setup.tokens.create('1', 'Mine', ['read'])
        const bearer = await call('POST', `${base}/${mine.token.id}/rotate`, {
          token: await tokenFor('1', ['create', 'read', 'update', 'delete']),
          body: {},
        })
        expect(bearer.status).toBe(403)
        expect(bearer.json.code).toBe('session_required')
        expect((await call('GET', '/me', { token: mine.plainTextToken })).status).toBe(200)
      })

      it('show a token’s activity to its owner: who made it, and each use with its address and client', async () => {
        // The app's `clientAddress` reads X-Real-IP: the routes record that address too, not the proxy's.
        const created = await call(
          'POST',
          base,
          session({
            body: { name: 'Watched' },
            headers: { 'user-agent': 'the page', 'x-real-ip': '203.0.113.9' },
          }),
        )
        const id = created.json.token.id
        const use = await call('GET', '/me', {
          token: created.json.plainTextToken,
          headers: { 'user-agent': 'curl/8.5.0', 'x-real-ip': '198.51.100.7' },
        })
        expect(use.status).toBe(200)
        const answer = await call('GET', `${base}/${id}/events`, { session: '1' })
        expect(answer.status).toBe(200)
        const [used, made] = answer.json.events
        expect(used).toMatchObject({ action: 'authenticated', tokenId: id, userAgent: 'curl/8.5.0' })
        expect(used.actor).toEqual({ type: 'token', id })
        expect(used.ip).toBe('198.51.100.7')
        expect(made).toMatchObject({
          action: 'created',
          actor: { type: 'user', id: '1' },
          ip: '203.0.113.9',
          userAgent: 'the page',
        })
        expect(answer.json.events[0]).not.toHaveProperty('owner')
        expectNoLeak(answer, created.json.plainTextToken.split('|')[1])
        const theirs = await setup.tokens.create('2', 'Grace’s', ['read'])
        expect(
          (await call('GET', `${base}/${theirs.token.id}/events`, { session: '1' })).json.events,
        ).toEqual([])
      })

      it('refuse malformed JSON with 400', async () => {
        const answer = await call('POST', base, session({ rawBody: '{"name": "oops",' }))
        expect(answer.status).toBe(400)
        expect(answer.json.code).toBe('bad_request')
        expectNoLeak(answer)
      })

      it('update permissions of the user’s own token', async () => {
        const created = await call(
          'POST',
          base,
          session({ body: { name: 'Editable', permissions: ['read'] } }),
        )
        const id = created.json.token.id
        const answer = await call(
          'PUT',
          `${base}/${id}`,
          session({ body: { permissions: ['update', 'delete', 'nope'] } }),
        )
        expect(answer.status).toBe(200)
        expect(answer.json.token.abilities).toEqual(['update', 'delete'])
        const me = await call('GET', '/me', { token: created.json.plainTextToken })
        expect(me.json.can).toEqual({ create: false, read: false, update: true, delete: true })
      })

      it('answer 404 for another user’s token or an unknown id, and change nothing', async () => {
        const theirs = await setup.tokens.create('2', 'Grace’s', ['read'])
        for (const id of [theirs.token.id, '999999', 'not-an-id!']) {
          expect(
            (
              await call(
                'PUT',
                `${base}/${encodeURIComponent(id)}`,
                session({ body: { permissions: ['delete'] } }),
              )
            ).status,
          ).toBe(404)
          expect((await call('DELETE', `${base}/${encodeURIComponent(id)}`, session())).status).toBe(404)
        }
        const me = await call('GET', '/me', { token: theirs.plainTextToken })
        expect(me.status).toBe(200)
        expect(me.json.can.delete).toBe(false)
      })

      it('delete a token, which then stops working', async () => {
        const created = await call(
          'POST',
          base,
          session({ body: { name: 'Deletable', permissions: ['read'] } }),
        )
        const answer = await call('DELETE', `${base}/${created.json.token.id}`, session())
        expect(answer.status).toBe(204)
        expect(answer.text).toBe('')
        expect((await call('GET', '/me', { token: created.json.plainTextToken })).status).toBe(401)
      })

      it('need a signed-in user', async () => {
        expect((await call('GET', base)).status).toBe(401)
        expect((await call('POST', base, { body: { name: 'x' } })).status).toBe(401)
      })

      it('refuse a session request from a foreign origin', async () => {
        const answer = await call('POST', base, {
          session: '1',
          origin: 'https://evil.example',
          body: { name: 'x' },
        })
        expect(answer.status).toBe(403)
      })

      it('refuse a bearer token with 403 session_required, whatever it holds', async () => {
        const answer = await call('GET', base, {
          token: await tokenFor('1', ['create', 'read', 'update', 'delete']),
        })
        expect(answer.status).toBe(403)
        expect(answer.json).toEqual({
          message:
            'Tokens are managed from the app’s own signed-in session; an API token cannot manage tokens here.',
          code: 'session_required',
        })
      })

      it('let a token mint tokens only within its own abilities, where bearer management is opted in', async () => {
        const opted = '/bearer/api-tokens'
        const limited = await tokenFor('1', ['read', 'create'])
        const ok = await call('POST', opted, {
          token: limited,
          body: { name: 'Child', permissions: ['read'] },
        })
        expect(ok.status).toBe(201)
        const escalate = await call('POST', opted, {
          token: limited,
          body: { name: 'Escalate', permissions: ['read', 'delete'] },
        })
        expect(escalate.status).toBe(403)
        expect(escalate.json.abilities).toEqual(['delete'])
        const widen = await call('PUT', `${opted}/${ok.json.token.id}`, {
          token: limited,
          body: { permissions: ['update'] },
        })
        expect(widen.status).toBe(403)
      })
    })

    describe('errors thrown outside auth, answered by the framework’s errorHandler()', () => {
      /** Asks `path` with a token: the bare 500, and one report whose message is `message`. */
      async function expectReported500(path: string, message: unknown) {
        const before = setup.reported.length
        const answer = await call('GET', path, { token: await tokenFor('1', ['read']) })
        expect(answer.status).toBe(500)
        expect(answer.json).toEqual({ message: 'Server Error', code: 'server_error' })
        expect(setup.reported.slice(before)).toEqual([expect.objectContaining({ message })])
      }

      it('report the app’s own failure once, and nothing of this library’s or a client’s', async () => {
        const before = setup.reported.length
        expect((await call('GET', '/thrown/library')).status).toBe(401)
        expect((await call('GET', '/thrown/client')).status).toBe(404)
        expect(setup.reported.length).toBe(before)
        await expectReported500('/thrown/bug', 'The app failed.')
      })

      it('answer the app’s failure behind auth the same way, and report it once', async () => {
        await expectReported500('/failing', 'The app failed.')
      })

      it('answer a setup that fails only once a request runs with the bare 500, and report it once', async () => {
        // The token routes for a session user without an `id`, and no `owner`.
        await expectReported500('/nameless/api-tokens', expect.stringMatching(/has no `id`/))
      })

      it('answer a check mounted without auth with a bare 500, and report what to fix', async () => {
        await expectReported500(
          '/misused',
          expect.stringContaining('use auth(tokens, options) before abilities'),
        )
      })
    })

    describe('storage outage', () => {
      it('answers 503 with a clear code, never 401 or 500', async () => {
        if (!setup.outage) return
        const token = await tokenFor('1', ['read'])
        setup.outage.down = true
        const answer = await call('GET', '/me', { token })
        expect(answer.status).toBe(503)
        expect(answer.json.code).toBe('storage_unavailable')
        expectNoLeak(answer, token.split('|')[1] as string)
        expect((await call('GET', '/user/api-tokens', { session: '1' })).status).toBe(503)
      })
    })

    describe.each([
      ['/limited', 'counted in this process'],
      ['/shared', 'counted by a limiter that answers through a promise, as Redis or PostgreSQL does'],
    ])(
      'rate limits on %s (the route group’s own: 2 a minute per token, 1 a minute for create, 3 refused tokens per address; %s)',
      (group) => {
        it('count each token apart, and leave routes without limits alone', async () => {
          const first = await tokenFor('1', ['read'])
          const second = await tokenFor('1', ['read'])
          for (let i = 0; i < 2; i++)
            expect((await call('GET', `${group}/me`, { token: first })).status).toBe(200)
          const refused = await call('GET', `${group}/me`, { token: first })
          expect(refused.status).toBe(429)
          expect(refused.json).toEqual({
            message: 'Too many requests: wait before trying again.',
            code: 'too_many_requests',
          })
          expectNoLeak(refused, first.split('|')[1] as string)
          expect((await call('GET', `${group}/me`, { token: second })).status).toBe(200)
          expect((await call('GET', '/me', { token: first })).status).toBe(200)
        })

        it('spend a token’s allowance once per request where the same auth is mounted twice', async () => {
          const token = await tokenFor('1', ['read'])
          for (let i = 0; i < 2; i++)
            expect((await call('GET', `${group}/twice`, { token })).status).toBe(200)
          expect((await call('GET', `${group}/twice`, { token })).status).toBe(429)
        })

        it('spend an ability’s own allowance per token, only for a token that passes the check', async () => {
          const first = await tokenFor('1', ['read', 'create'])
          const second = await tokenFor('1', ['read', 'create'])
          const reader = await tokenFor('1', ['read'])
          expect((await call('POST', `${group}/posts`, { token: first })).status).toBe(201)
          const refused = await call('POST', `${group}/posts`, { token: first })
          expect(refused.status).toBe(429)
          expect(refused.headers.get('ratelimit-policy')).toBe('"ability:create";q=1;w=60')
          expectNoLeak(refused, first.split('|')[1] as string)
          expect((await call('POST', `${group}/posts`, { token: second })).status).toBe(201)
          // Missing the ability: 403, and nothing spent.
          for (let i = 0; i < 2; i++) {
            expect((await call('POST', `${group}/posts`, { token: reader })).status).toBe(403)
          }
        })

        it('slow a client that keeps presenting refused tokens, before its tokens reach the store', async () => {
          const good = await tokenFor('1', ['read'])
          for (const bad of ['1|nope', `999999|${'a'.repeat(40)}00000000`, 'garbage']) {
            expect((await call('GET', `${group}/me`, { token: bad })).status).toBe(401)
          }
          if (setup.outage) setup.outage.down = true
          const blocked = await call('GET', `${group}/me`, { token: good })
          // 429, not 503: with the store down, a lookup would have failed.
          expect(blocked.status).toBe(429)
          expect(blocked.headers.get('ratelimit-policy')).toBe('"failures";q=3;w=60')
          if (setup.outage) setup.outage.down = false
          // Requests without a token are not the address's failures to pay for.
          expect((await call('GET', `${group}/me`, { session: '1' })).status).toBe(200)
        })
      },
    )
  })
}
