import { beforeEach, describe, expect, it } from 'vitest'
import { type Auth, createAuth } from './auth.js'
import { ForbiddenError, MisconfigurationError, UnauthenticatedError } from './errors.js'
import { HttpAnswer } from './http-answer.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import { PersonalAccessToken } from './personal-access-token.js'
import { definePolicies, type Policy } from './policies.js'
import { type AuthOptions, type GuardAdapter, RequestGuard } from './request-guard.js'
import { createTokens, type TokenService, type TokenServiceOptions } from './token-service.js'
import { TransientToken } from './transient-token.js'

const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})
type Permission = (typeof permissions.permissions)[number]

interface User {
  id: string
  name: string
}

const ada: User = { id: '42', name: 'Ada' }
const grace: User = { id: '7', name: 'Grace' }
const users = new Map<string, User>([
  [ada.id, ada],
  [grace.id, grace],
])

/** The framework's request, as a test stands it in: lower-case headers, a session, a query. */
interface FakeRequest {
  readonly method: string
  readonly headers: Readonly<Record<string, string>>
  readonly session: User | null
  readonly query: Readonly<Record<string, string>>
}

function fakeRequest(
  method: string,
  headers: Record<string, string> = {},
  extra: { session?: User | null; query?: Record<string, string> } = {},
): FakeRequest {
  return { method, headers, session: extra.session ?? null, query: extra.query ?? {} }
}

const adapter: GuardAdapter<FakeRequest> = {
  method: (request) => request.method,
  header: (request, name) => request.headers[name],
}

type RequestAuth = Auth<User | null, Permission>

/** The guard's auth as a promise, whether it came at once or as a promise; a refusal (an answer) rejects with it. */
async function resolveWith(
  requestGuard: RequestGuard<User, Permission, FakeRequest>,
  request: FakeRequest,
): Promise<RequestAuth> {
  const resolved = await requestGuard.resolve(request)
  if (resolved instanceof HttpAnswer) throw resolved
  return resolved
}

/** What a refusing answer says: its status, its body's code, and its challenge. */
function refusal(answer: unknown): { status: number; code: string; challenge: string | undefined } {
  if (!(answer instanceof HttpAnswer)) throw new Error(`expected an answer, got ${String(answer)}`)
  return {
    status: answer.status,
    code: (JSON.parse(answer.body) as { code: string }).code,
    challenge: answer.headers['www-authenticate'],
  }
}

const FORBIDDEN = { status: 403, code: 'forbidden', challenge: undefined }

/** A MemoryTokenStore that counts lookups, so tests can see whether the store was asked. */
class CountingStore extends MemoryTokenStore {
  lookups = 0
  override findById(id: string) {
    this.lookups++
    return super.findById(id)
  }
  override findByHash(hash: string) {
    this.lookups++
    return super.findByHash(hash)
  }
}

/** A store whose database is down. */
class DownStore extends MemoryTokenStore {
  override async findById(_id: string): Promise<never> {
    throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
  }
  override async findByHash(_hash: string): Promise<never> {
    throw new Error('connect ECONNREFUSED 127.0.0.1:5432')
  }
}

class Clock {
  at = new Date('2026-06-01T12:00:00Z').getTime()
  now = (): Date => new Date(this.at)
}

let store: CountingStore
let clock: Clock
let tokens: TokenService<Permission>
/** Every call of the `user` option, with what it was given. */
let userCalls: { token: PersonalAccessToken<Permission>; request: FakeRequest }[]

function findUser(token: PersonalAccessToken<Permission>, request: FakeRequest): User | null {
  userCalls.push({ token, request })
  return users.get(token.owner.id) ?? null
}

function guard(
  options: Partial<AuthOptions<User, Permission, FakeRequest>> = {},
): RequestGuard<User, Permission, FakeRequest> {
  // Most tests read the guest's auth; `required` (the default) is tested on its own.
  return new RequestGuard<User, Permission, FakeRequest>(
    tokens,
    {
      session: (request) => request.session,
      user: findUser,
      required: false,
      ...options,
    },
    adapter,
  )
}

function resolve(request: FakeRequest, options: Partial<AuthOptions<User, Permission, FakeRequest>> = {}) {
  return resolveWith(guard(options), request)
}

async function issue(owner: User, abilities: Permission[] = ['read'], expiresAt: Date | null = null) {
  return tokens.create(owner.id, 'test token', abilities, { expiresAt })
}

function bearer(plainText: string): Record<string, string> {
  return { authorization: `Bearer ${plainText}` }
}

/** Makes `tokens` a service on the test's store and clock that keeps the ids its `authenticated` hook is given. */
function recordingUses(options: Partial<TokenServiceOptions<Permission>> = {}): string[] {
  const authenticated: string[] = []
  tokens = createTokens({
    store,
    permissions,
    lastUsed: false,
    now: clock.now,
    on: { authenticated: (token) => void authenticated.push(token.id) },
    ...options,
  })
  return authenticated
}

beforeEach(() => {
  store = new CountingStore()
  clock = new Clock()
  tokens = createTokens({ store, permissions, lastUsed: false, now: clock.now })
  userCalls = []
})

describe('RequestGuard: session requests', () => {
  it('gives a session user a TransientToken that can do anything', async () => {
    const auth = await resolve(fakeRequest('GET', {}, { session: ada }))
    expect(auth.user).toBe(ada)
    expect(auth.token).toBeInstanceOf(TransientToken)
    expect(auth.tokenRejected).toBe(false)
    for (const ability of permissions.permissions) {
      expect(auth.tokenCan(ability)).toBe(true)
      expect(auth.tokenCant(ability)).toBe(false)
    }
    expect(userCalls).toEqual([])
    expect(store.lookups).toBe(0)
  })

  it('awaits an async session lookup', async () => {
    const auth = await resolve(fakeRequest('GET'), { session: async () => grace })
    expect(auth.user).toBe(grace)
    expect(auth.token).toBeInstanceOf(TransientToken)
  })

  it('passes the framework request to the session lookup', async () => {
    const request = fakeRequest('GET')
    const seen: FakeRequest[] = []
    await resolve(request, {
      session: (r) => {
        seen.push(r)
        return null
      },
    })
    expect(seen).toEqual([request])
    expect(seen[0]).toBe(request)
  })

  it('prefers the session over a bearer token, without looking the token up', async () => {
    const { plainTextToken } = await issue(grace, ['read'])
    const auth = await resolve(fakeRequest('GET', bearer(plainTextToken), { session: ada }))
    expect(auth.user).toBe(ada)
    expect(auth.token).toBeInstanceOf(TransientToken)
    expect(store.lookups).toBe(0)
    expect(userCalls).toEqual([])
  })

  it('falls through to the bearer token when the session has no user (null or undefined)', async () => {
    const { plainTextToken } = await issue(ada)
    for (const session of [() => null, () => undefined, async () => null]) {
      const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)), { session })
      expect(auth.user).toBe(ada)
      expect(auth.token).toBeInstanceOf(PersonalAccessToken)
    }
  })

  it('works without a session option at all', async () => {
    const { plainTextToken } = await issue(ada)
    const guardWithoutSession = new RequestGuard<User, Permission, FakeRequest>(
      tokens,
      { user: findUser },
      adapter,
    )
    const request = fakeRequest('POST', bearer(plainTextToken))
    const auth = await resolveWith(guardWithoutSession, request)
    expect(auth.user).toBe(ada)
  })
})

describe('RequestGuard: a falsy user is no user, as in Sanctum', () => {
  // `false` is what Hono's getSignedCookie gives for a forged cookie, and what `a && b` passes on.
  it.each([false, 0, ''])(
    'reads a session of %j as no session: a guest, or the bearer token',
    async (value) => {
      const session = () => value as unknown as User
      const guest = await resolve(fakeRequest('POST', {}), { session })
      expect(guest.user).toBeNull()
      expect(guest.token).toBeNull()
      const { plainTextToken } = await issue(ada, ['read'])
      const byToken = await resolve(fakeRequest('POST', bearer(plainTextToken)), { session })
      expect(byToken.user).toBe(ada)
      expect(byToken.tokenCan('delete')).toBe(false)
    },
  )

  it.each([false, 0, ''])(
    'refuses a token whose `user` gives %j, as when it gives null, and records no use',
    async (value) => {
      const authenticated = recordingUses()
      const { plainTextToken } = await issue(ada, ['read'])
      const answer = await guard({ required: true, user: () => value as unknown as User }).resolve(
        fakeRequest('GET', bearer(plainTextToken)),
      )
      const gone = await guard({ required: true, user: () => null }).resolve(
        fakeRequest('GET', bearer(plainTextToken)),
      )
      expect(refusal(answer)).toEqual(refusal(gone))
      expect(refusal(answer)).toMatchObject({ status: 401, code: 'unauthenticated' })
      expect(authenticated).toEqual([])
    },
  )
})

describe('RequestGuard: session requests that change state need a first-party origin', () => {
  const foreign = { origin: 'https://evil.test', host: 'api.example.com' }

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'post', 'Put', 'patch', 'dElEtE'])(
    'refuses a %s from a foreign origin with 403 forbidden',
    async (method) => {
      const answer = await resolve(fakeRequest(method, foreign, { session: ada })).catch((e: unknown) => e)
      expect(refusal(answer)).toEqual(FORBIDDEN)
    },
  )

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])(
    'refuses a %s with neither Origin nor Referer',
    async (method) => {
      const answer = await resolve(fakeRequest(method, { host: 'api.example.com' }, { session: ada })).catch(
        (e: unknown) => e,
      )
      expect(refusal(answer)).toEqual(FORBIDDEN)
    },
  )

  it('refuses a state-changing request whose Origin is "null"', async () => {
    const answer = await resolve(
      fakeRequest('POST', { origin: 'null', host: 'api.example.com' }, { session: ada }),
    ).catch((e: unknown) => e)
    expect(refusal(answer)).toEqual(FORBIDDEN)
  })

  it.each(['GET', 'HEAD', 'OPTIONS', 'get'])('lets a %s from a foreign origin through', async (method) => {
    const auth = await resolve(fakeRequest(method, foreign, { session: ada }))
    expect(auth.user).toBe(ada)
    expect(auth.token).toBeInstanceOf(TransientToken)
  })

  it("accepts a state-changing request from the app's own Host when no domains are configured", async () => {
    const headers = { origin: 'https://api.example.com', host: 'api.example.com' }
    const auth = await resolve(fakeRequest('POST', headers, { session: ada }))
    expect(auth.user).toBe(ada)
    const byReferer = { referer: 'https://api.example.com/settings', host: 'api.example.com' }
    expect((await resolve(fakeRequest('DELETE', byReferer, { session: ada }))).user).toBe(ada)
  })

  it('accepts a state-changing request from a configured stateful domain', async () => {
    const options = { statefulDomains: ['app.example.com', '*.preview.example.com', 'localhost:3000'] }
    for (const origin of [
      'https://app.example.com',
      'https://pr-12.preview.example.com',
      'http://localhost:3000',
    ]) {
      const auth = await resolve(
        fakeRequest('PUT', { origin, host: 'api.example.com' }, { session: ada }),
        options,
      )
      expect(auth.token).toBeInstanceOf(TransientToken)
    }
  })

  it('refuses the own Host once domains are configured and it is not among them', async () => {
    const headers = { origin: 'https://api.example.com', host: 'api.example.com' }
    const answer = await resolve(fakeRequest('POST', headers, { session: ada }), {
      statefulDomains: ['app.example.com'],
    }).catch((e: unknown) => e)
    expect(refusal(answer)).toEqual(FORBIDDEN)
  })

  it('does not apply the origin check to bearer requests', async () => {
    const { plainTextToken } = await issue(ada, ['update'])
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const auth = await resolve(fakeRequest(method, { ...foreign, ...bearer(plainTextToken) }))
      expect(auth.user).toBe(ada)
      expect(auth.token).toBeInstanceOf(PersonalAccessToken)
    }
    const withoutOrigin = await resolve(fakeRequest('DELETE', bearer(plainTextToken)))
    expect(withoutOrigin.user).toBe(ada)
  })

  it('does not apply the origin check to guests', async () => {
    const auth = await resolve(fakeRequest('POST', foreign))
    expect(auth.user).toBeNull()
    expect(auth.tokenRejected).toBe(false)
  })
})

describe('RequestGuard: bearer tokens', () => {
  it('authenticates `Authorization: Bearer <token>` and returns the owner from `user`, called once', async () => {
    const { token: issued, plainTextToken } = await issue(ada, ['read', 'update'])
    const request = fakeRequest('GET', bearer(plainTextToken))
    const auth = await resolve(request)
    expect(auth.user).toBe(ada)
    expect(auth.token).toBeInstanceOf(PersonalAccessToken)
    expect((auth.token as PersonalAccessToken).id).toBe(issued.id)
    expect(auth.tokenRejected).toBe(false)
    expect(auth.tokenCan('read')).toBe(true)
    expect(auth.tokenCan('update')).toBe(true)
    expect(auth.tokenCan('delete')).toBe(false)
    expect(auth.tokenCant('delete')).toBe(true)
    expect(userCalls).toHaveLength(1)
    expect(userCalls[0]?.token).toBe(auth.token)
    expect(userCalls[0]?.request).toBe(request)
    expect(store.lookups).toBe(1)
  })

  it.each(['bearer', 'BEARER', 'BeArEr'])('accepts the scheme written %s', async (scheme) => {
    const { plainTextToken } = await issue(ada)
    const auth = await resolve(fakeRequest('GET', { authorization: `${scheme} ${plainTextToken}` }))
    expect(auth.user).toBe(ada)
  })

  it('accepts extra spaces around the token', async () => {
    const { plainTextToken } = await issue(ada)
    const auth = await resolve(fakeRequest('GET', { authorization: `Bearer   ${plainTextToken}  ` }))
    expect(auth.user).toBe(ada)
  })

  it.each([
    ['Basic', 'Basic dXNlcjpwYXNz'],
    ['Digest', 'Digest username="ada"'],
    ['a scheme glued to Bearer', 'Bearerabc'],
    ['Bearer and a tab', 'Bearer\tabc'],
    ['an empty header', ''],
  ])('treats %s as no token: a guest, not rejected, store not asked', async (_, authorization) => {
    const auth = await resolve(fakeRequest('GET', { authorization }))
    expect(auth.user).toBeNull()
    expect(auth.token).toBeNull()
    expect(auth.tokenRejected).toBe(false)
    expect(store.lookups).toBe(0)
    expect(userCalls).toEqual([])
  })

  it.each([
    ['Bearer with nothing', 'Bearer'],
    ['Bearer and a space', 'Bearer '],
    ['Bearer with two words', 'Bearer abc def'],
    ['a real token followed by another word', 'Bearer 1|abc extra'],
    ['a token that is not of the app format', 'Bearer not-a-token'],
  ])('refuses %s without asking the store', async (_, authorization) => {
    const auth = await resolve(fakeRequest('GET', { authorization }))
    expect(auth.user).toBeNull()
    expect(auth.token).toBeNull()
    expect(auth.tokenRejected).toBe(true)
    expect(store.lookups).toBe(0)
    expect(userCalls).toEqual([])
  })

  it('refuses a valid token followed by a second word without asking the store', async () => {
    const { plainTextToken } = await issue(ada)
    const auth = await resolve(
      fakeRequest('GET', { authorization: `Bearer ${plainTextToken} ${plainTextToken}` }),
    )
    expect(auth.tokenRejected).toBe(true)
    expect(store.lookups).toBe(0)
  })

  it('refuses a wrong secret for an existing id', async () => {
    const first = await issue(ada)
    const second = await issue(ada)
    const secretOfSecond = second.plainTextToken.split('|')[1] as string
    const auth = await resolve(fakeRequest('GET', bearer(`${first.token.id}|${secretOfSecond}`)))
    expect(auth.user).toBeNull()
    expect(auth.token).toBeNull()
    expect(auth.tokenRejected).toBe(true)
    expect(userCalls).toEqual([])
  })

  it('refuses an unknown id', async () => {
    const { plainTextToken } = await issue(ada)
    const secret = plainTextToken.split('|')[1] as string
    const auth = await resolve(fakeRequest('GET', bearer(`999|${secret}`)))
    expect(auth.user).toBeNull()
    expect(auth.tokenRejected).toBe(true)
  })

  it('refuses a revoked token', async () => {
    const { token, plainTextToken } = await issue(ada)
    expect((await resolve(fakeRequest('GET', bearer(plainTextToken)))).user).toBe(ada)
    await tokens.revoke(ada.id, token.id)
    const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)))
    expect(auth.user).toBeNull()
    expect(auth.token).toBeNull()
    expect(auth.tokenRejected).toBe(true)
  })

  it('refuses an expired token', async () => {
    const { plainTextToken } = await issue(ada, ['read'], new Date(clock.at + 60_000))
    expect((await resolve(fakeRequest('GET', bearer(plainTextToken)))).user).toBe(ada)
    clock.at += 60_000
    const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)))
    expect(auth.user).toBeNull()
    expect(auth.tokenRejected).toBe(true)
  })

  it('refuses a valid token whose owner `user` no longer finds (null or undefined)', async () => {
    const { plainTextToken } = await issue(ada)
    for (const user of [() => null, async () => undefined]) {
      const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)), { user })
      expect(auth.user).toBeNull()
      expect(auth.token).toBeNull()
      expect(auth.tokenRejected).toBe(true)
    }
  })

  it('leaves no trace of a use for an owner `user` refuses: no `authenticated`, no last-used touch', async () => {
    const touched: string[] = []
    const authenticated: string[] = []
    const touching = new (class extends MemoryTokenStore {
      override async touch(uses: ReadonlyMap<string, Date>) {
        touched.push(...uses.keys())
        return super.touch(uses)
      }
    })()
    const service = createTokens({
      store: touching,
      permissions,
      lastUsed: { flushDelay: 60_000 },
      on: { authenticated: (token) => void authenticated.push(token.id) },
    })
    const { plainTextToken, token } = await service.create(ada.id, 'gone owner')
    const guarded = (user: () => User | null) =>
      resolveWith(
        new RequestGuard<User, Permission, FakeRequest>(service, { user, required: false }, adapter),
        fakeRequest('GET', bearer(plainTextToken)),
      )
    expect((await guarded(() => null)).tokenRejected).toBe(true)
    await service.close()
    expect(authenticated).toEqual([])
    expect(touched).toEqual([])
    expect((await guarded(() => ada)).user).toBe(ada)
    await service.close()
    expect(authenticated).toEqual([token.id])
    expect(touched).toEqual([token.id])
  })

  it('awaits an async `user`', async () => {
    const { plainTextToken } = await issue(grace)
    const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)), {
      user: async (token) => users.get(token.owner.id) ?? null,
    })
    expect(auth.user).toBe(grace)
  })

  it('gives a guest, not rejected, to a request without credentials', async () => {
    const auth = await resolve(fakeRequest('GET'))
    expect(auth.user).toBeNull()
    expect(auth.token).toBeNull()
    expect(auth.tokenRejected).toBe(false)
    expect(auth.tokenCan('read')).toBe(false)
    expect(auth.tokenCant('read')).toBe(true)
    expect(store.lookups).toBe(0)
  })
})

describe('RequestGuard: mounted twice on one request', () => {
  /** A request that keeps the auth set on it, as `c.var.auth`, `ctx.state.auth` and `req.auth` do. */
  type KeepingRequest = FakeRequest & { auth?: object }
  const keeping: GuardAdapter<KeepingRequest> = { ...adapter, currentAuth: (request) => request.auth }
  const guardOn = (options: Partial<AuthOptions<User, Permission, KeepingRequest>> = {}) =>
    new RequestGuard<User, Permission, KeepingRequest>(
      tokens,
      { user: findUser, required: false, ...options },
      keeping,
    )
  // What a middleware does with the guard's answer: keep the auth on the request.
  const pass = async (
    requestGuard: RequestGuard<User, Permission, KeepingRequest>,
    request: KeepingRequest,
  ) => {
    const resolved = await requestGuard.resolve(request)
    if (resolved instanceof HttpAnswer) return resolved
    request.auth = resolved
    return resolved
  }

  it('answers with its own earlier auth: the token verified, spent, counted and recorded once', async () => {
    const authenticated = recordingUses({ rateLimit: { limit: 1, window: 60 } })
    const { plainTextToken, token } = await issue(ada)
    const once = guardOn()
    const request: KeepingRequest = fakeRequest('GET', bearer(plainTextToken))
    const first = await pass(once, request)
    // At once, not a promise: nothing is looked up or spent again.
    expect(once.resolve(request)).toBe(first)
    expect(store.lookups).toBe(1)
    expect(userCalls).toHaveLength(1)
    expect(authenticated).toEqual([token.id])
    // The allowance of one a minute was spent by the first pass alone: another request is the second use.
    expect(refusal(await once.resolve(fakeRequest('GET', bearer(plainTextToken)))).status).toBe(429)
  })

  it('counts a refused token once, and keeps a guest its guest', async () => {
    tokens = createTokens({
      store,
      permissions,
      lastUsed: false,
      now: clock.now,
      rateLimit: { limit: 100, window: 60, failures: { limit: 2, window: 60 } },
    })
    const once = guardOn({ clientAddress: () => '203.0.113.7' })
    const refused: KeepingRequest = fakeRequest('GET', bearer('1|nope'))
    const first = (await pass(once, refused)) as RequestAuth
    expect(first.tokenRejected).toBe(true)
    expect(once.resolve(refused)).toBe(first)
    // One failure counted of two: the address may still present a token.
    const { plainTextToken } = await issue(ada)
    expect((await resolveWith(once as never, fakeRequest('GET', bearer(plainTextToken)))).user).toBe(ada)
    const guest: KeepingRequest = fakeRequest('GET')
    expect(once.resolve(guest)).toBe(await pass(once, guest))
  })

  it('resolves a request whose auth slot holds null or something else of the app’s', async () => {
    const { plainTextToken } = await issue(ada)
    for (const auth of [null, {}, { user: grace }]) {
      const request = { ...fakeRequest('GET', bearer(plainTextToken)), auth } as KeepingRequest
      expect(((await guardOn().resolve(request)) as RequestAuth).user).toBe(ada)
    }
  })

  it('leaves another guard’s auth alone: each guard resolves the request for itself', async () => {
    const { plainTextToken } = await issue(ada)
    const request: KeepingRequest = fakeRequest('GET', bearer(plainTextToken))
    const first = await pass(guardOn(), request)
    const second = await pass(guardOn({ realm: 'acme' }), request)
    expect(second).not.toBe(first)
    expect(store.lookups).toBe(2)
  })
})

describe('RequestGuard: where the token is', () => {
  it('reads a custom header whose whole value is the token', async () => {
    const { plainTextToken } = await issue(ada)
    const auth = await resolve(fakeRequest('GET', { 'x-api-token': plainTextToken }), {
      token: 'x-api-token',
    })
    expect(auth.user).toBe(ada)
    expect(auth.token).toBeInstanceOf(PersonalAccessToken)
  })

  it('looks a custom header up by its lower-case name', async () => {
    const { plainTextToken } = await issue(ada)
    const seen: string[] = []
    const request = fakeRequest('GET', { 'x-api-token': plainTextToken })
    const spying = new RequestGuard<User, Permission, FakeRequest>(
      tokens,
      { user: findUser, token: 'X-Api-Token' },
      {
        method: (r) => r.method,
        header: (r, name) => {
          seen.push(name)
          return r.headers[name]
        },
      },
    )
    const auth = await resolveWith(spying, request)
    expect(auth.user).toBe(ada)
    expect(seen).toContain('x-api-token')
  })

  it('trims the custom header', async () => {
    const { plainTextToken } = await issue(ada)
    const auth = await resolve(fakeRequest('GET', { 'x-api-token': `  ${plainTextToken} ` }), {
      token: 'x-api-token',
    })
    expect(auth.user).toBe(ada)
  })

  it('ignores `Authorization: Bearer` once a custom header is configured', async () => {
    const { plainTextToken } = await issue(ada)
    const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)), { token: 'x-api-token' })
    expect(auth.user).toBeNull()
    expect(auth.tokenRejected).toBe(false)
    expect(store.lookups).toBe(0)
  })

  it('refuses an empty or blank custom header without asking the store', async () => {
    for (const value of ['', '   ']) {
      const auth = await resolve(fakeRequest('GET', { 'x-api-token': value }), { token: 'x-api-token' })
      expect(auth.user).toBeNull()
      expect(auth.tokenRejected).toBe(true)
    }
    expect(store.lookups).toBe(0)
  })

  it('refuses a wrong token in a custom header', async () => {
    const auth = await resolve(fakeRequest('GET', { 'x-api-token': 'Bearer 1|nope' }), {
      token: 'x-api-token',
    })
    expect(auth.user).toBeNull()
    expect(auth.tokenRejected).toBe(true)
  })

  it('reads the token with a getter function given the framework request', async () => {
    const { plainTextToken } = await issue(grace)
    const request = fakeRequest('GET', {}, { query: { api_token: plainTextToken } })
    const seen: FakeRequest[] = []
    const auth = await resolve(request, {
      token: (r) => {
        seen.push(r)
        return r.query.api_token
      },
    })
    expect(auth.user).toBe(grace)
    expect(seen).toHaveLength(1)
    expect(seen[0]).toBe(request)
  })

  it('treats a getter returning null or undefined as no token', async () => {
    for (const token of [() => null, () => undefined]) {
      const auth = await resolve(fakeRequest('GET'), { token })
      expect(auth.user).toBeNull()
      expect(auth.tokenRejected).toBe(false)
    }
    expect(store.lookups).toBe(0)
  })

  it('refuses a getter returning an empty or blank string without asking the store', async () => {
    for (const value of ['', '  ']) {
      const auth = await resolve(fakeRequest('GET'), { token: () => value })
      expect(auth.tokenRejected).toBe(true)
    }
    expect(store.lookups).toBe(0)
  })
})

describe('RequestGuard: auth.authorize', () => {
  interface Post {
    authorId: string
  }
  type AppAuth = Auth<User, Permission>
  const posts = definePolicies({
    update: (auth: AppAuth, post: Post) => auth.tokenCan('update') && post.authorId === auth.user.id,
  })

  it('resolves when the policy allows', async () => {
    const { plainTextToken } = await issue(ada, ['update'])
    const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)))
    await expect(auth.authorize(posts.update, { authorId: ada.id })).resolves.toBeUndefined()
  })

  it('throws ForbiddenError when the policy refuses', async () => {
    const { plainTextToken } = await issue(ada, ['read'])
    const auth = await resolve(fakeRequest('GET', bearer(plainTextToken)))
    await expect(auth.authorize(posts.update, { authorId: ada.id })).rejects.toBeInstanceOf(ForbiddenError)
    const session = await resolve(fakeRequest('GET', {}, { session: ada }))
    await expect(session.authorize(posts.update, { authorId: grace.id })).rejects.toBeInstanceOf(
      ForbiddenError,
    )
  })

  it('throws UnauthenticatedError for a guest, without asking the policy', async () => {
    let asked = false
    const policy = (_auth: AppAuth, _post: Post) => {
      asked = true
      return true
    }
    const auth = await resolve(fakeRequest('GET'))
    await expect(auth.authorize(policy, { authorId: ada.id })).rejects.toBeInstanceOf(UnauthenticatedError)
    expect(asked).toBe(false)
  })

  // A refused token must still read as `error="invalid_token"` in the 401 that authorize leads to (RFC 6750).
  it('keeps tokenRejected on the UnauthenticatedError of a guest whose token was refused', async () => {
    const auth = await resolve(fakeRequest('GET', bearer('not-a-token')))
    expect(auth.tokenRejected).toBe(true)
    const error = await auth.authorize(posts.update, { authorId: ada.id }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnauthenticatedError)
    expect((error as UnauthenticatedError).tokenRejected).toBe(true)
  })
})

describe('createAuth', () => {
  it('builds a guest that is not rejected by default', () => {
    const auth = createAuth<User | null, Permission>(null, null)
    expect(auth.user).toBeNull()
    expect(auth.token).toBeNull()
    expect(auth.tokenRejected).toBe(false)
    expect(auth.tokenCan('read')).toBe(false)
    expect(auth.tokenCant('read')).toBe(true)
  })

  it('keeps tokenRejected when given', () => {
    expect(createAuth<User | null, Permission>(null, null, { tokenRejected: true }).tokenRejected).toBe(true)
  })

  it('answers tokenCan from its token, for a session and for a token', async () => {
    const session = createAuth<User, Permission>(ada, new TransientToken())
    expect(session.user).toBe(ada)
    expect(session.tokenCan('delete')).toBe(true)
    const { token } = await issue(ada, ['read'])
    const viaToken = createAuth<User, Permission>(ada, token)
    for (const ability of permissions.permissions) {
      expect(viaToken.tokenCan(ability)).toBe(token.can(ability))
      expect(viaToken.tokenCant(ability)).toBe(token.cant(ability))
    }
    expect(viaToken.token).toBe(token)
  })

  it('authorizes through policies', async () => {
    const isAuthor: Policy<User, Permission, { authorId: string }> = (auth, post) =>
      post.authorId === auth.user.id
    const auth = createAuth<User, Permission>(ada, new TransientToken())
    await expect(auth.authorize(isAuthor, { authorId: ada.id })).resolves.toBeUndefined()
    await expect(auth.authorize(isAuthor, { authorId: grace.id })).rejects.toBeInstanceOf(ForbiddenError)
    await expect(
      createAuth<User | null, Permission>(null, null).authorize(isAuthor, { authorId: ada.id }),
    ).rejects.toBeInstanceOf(UnauthenticatedError)
  })
})

describe('RequestGuard: answers at once where nothing is awaited', () => {
  it('gives guests, sessions and malformed tokens without a promise, guests as one frozen answer', async () => {
    const g = guard()
    const guest = g.resolve(fakeRequest('GET'))
    expect(guest).not.toBeInstanceOf(Promise)
    expect(g.resolve(fakeRequest('GET'))).toBe(guest)
    expect(Object.isFrozen(guest)).toBe(true)
    const refused = g.resolve(fakeRequest('GET', bearer('1|nope')))
    expect(refused).not.toBeInstanceOf(Promise)
    expect((refused as RequestAuth).tokenRejected).toBe(true)
    const session = g.resolve(fakeRequest('GET', {}, { session: ada }))
    expect(session).not.toBeInstanceOf(Promise)
    expect((session as RequestAuth).user).toBe(ada)
  })

  it('verifies a token on the memory store, or a cached one, without a promise', async () => {
    const { plainTextToken } = await issue(ada)
    const answer = guard().resolve(fakeRequest('GET', bearer(plainTextToken)))
    expect(answer).not.toBeInstanceOf(Promise)
    expect((answer as RequestAuth).user).toBe(ada)

    const down = new DownStore()
    const cachedTokens = createTokens({ store: down, permissions, lastUsed: false, cache: true })
    const issued = await cachedTokens.create(ada.id, 'cached', ['read'])
    // First request: the store is asked (and is down), so the answer is a promise of a 503.
    const cachedGuard = new RequestGuard<User, Permission, FakeRequest>(
      cachedTokens,
      { user: findUser },
      adapter,
    )
    const first = cachedGuard.resolve(fakeRequest('GET', bearer(issued.plainTextToken)))
    expect(first).toBeInstanceOf(Promise)
    expect(refusal(await first).status).toBe(503)
  })

  it('answers with a promise when the store, the session or `user` answers with one, thenables included', async () => {
    const { plainTextToken } = await issue(ada)
    const thenable = <T>(value: T): PromiseLike<T> => ({
      // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test needs
      then: (resolve) => Promise.resolve(value).then(resolve),
    })
    // A query builder that runs when awaited (as drizzle's) is a thenable, not a Promise: never a user by itself.
    const nobody = await resolveWith(
      guard({ user: () => thenable(null) }),
      fakeRequest('GET', bearer(plainTextToken)),
    )
    expect(nobody.user).toBeNull()
    expect(nobody.tokenRejected).toBe(true)
    const somebody = await resolveWith(
      guard({ user: () => thenable(grace) }),
      fakeRequest('GET', bearer(plainTextToken)),
    )
    expect(somebody.user).toBe(grace)
    const fromSession = await resolveWith(guard({ session: () => thenable(ada) }), fakeRequest('GET'))
    expect(fromSession.token).toBeInstanceOf(TransientToken)
    const noSession = await resolveWith(guard({ session: () => thenable(null) }), fakeRequest('GET'))
    expect(noSession.user).toBeNull()
  })

  it('throws what the adapter asks for when a policy says no', async () => {
    const { plainTextToken } = await issue(ada, ['read'])
    class FrameworkError extends Error {
      constructor(readonly status: number) {
        super('refused')
      }
    }
    const mapped = new RequestGuard<User, Permission, FakeRequest>(
      tokens,
      { user: findUser, required: false },
      { ...adapter, refusal: (error) => new FrameworkError(error.status) },
    )
    const signedIn = await resolveWith(mapped, fakeRequest('GET', bearer(plainTextToken)))
    const never: Policy<User, Permission, null> = () => false
    await expect(signedIn.authorize(never, null)).rejects.toEqual(new FrameworkError(403))
    const guest = await resolveWith(mapped, fakeRequest('GET'))
    await expect(guest.authorize(never, null)).rejects.toMatchObject({ status: 401 })
    const failing: Policy<User, Permission, null> = () => {
      throw new TypeError('a bug in the policy')
    }
    await expect(signedIn.authorize(failing, null)).rejects.toBeInstanceOf(TypeError)
  })
})

describe('RequestGuard: misconfiguration is caught at construction', () => {
  type Options = AuthOptions<User, Permission, FakeRequest>

  function buildWith(service: unknown, options: unknown) {
    return () =>
      new RequestGuard<User, Permission, FakeRequest>(
        service as TokenService<Permission>,
        options as Options,
        adapter,
      )
  }

  function build(options: unknown) {
    return buildWith(tokens, options)
  }

  it('needs the token service', () => {
    expect(buildWith(undefined, { user: findUser })).toThrow(MisconfigurationError)
    expect(buildWith(null, { user: findUser })).toThrow(MisconfigurationError)
    expect(buildWith({}, { user: findUser })).toThrow(MisconfigurationError)
  })

  it('needs options with a `user` function', () => {
    expect(build(undefined)).toThrow(MisconfigurationError)
    expect(build({})).toThrow(MisconfigurationError)
    expect(build({ user: 'users.find' })).toThrow(MisconfigurationError)
  })

  it('needs `session` to be a function when given', () => {
    expect(build({ user: findUser, session: 'cookie' })).toThrow(MisconfigurationError)
  })

  it('needs `clientAddress` to be a function when given', () => {
    expect(build({ user: findUser, clientAddress: 'x-forwarded-for' })).toThrow(MisconfigurationError)
    expect(build({ user: findUser, clientAddress: () => '198.51.100.4' })).not.toThrow()
  })

  it.each([
    ['an empty header name', ''],
    ['a number', 42],
    ['null', null],
    ['an object', { header: 'x-api-token' }],
  ])('refuses a `token` option that is %s', (_, token) => {
    expect(build({ user: findUser, token })).toThrow(MisconfigurationError)
  })

  it('needs the adapter that reads the request', () => {
    const options = { user: findUser }
    for (const broken of [undefined, {}, { method: () => 'GET' }, { header: () => undefined }]) {
      expect(() => new RequestGuard(tokens, options, broken as unknown as GuardAdapter<FakeRequest>)).toThrow(
        MisconfigurationError,
      )
    }
  })

  it('accepts a header name or a function as `token`', () => {
    expect(build({ user: findUser, token: 'x-api-token' })).not.toThrow()
    expect(build({ user: findUser, token: () => null })).not.toThrow()
  })
})

describe('RequestGuard: storage failures', () => {
  it('answers 503 storage_unavailable when the store cannot answer, never a guest', async () => {
    const down = createTokens({ store: new DownStore(), permissions, lastUsed: false })
    const { plainTextToken } = await issue(ada)
    const downGuard = new RequestGuard<User, Permission, FakeRequest>(down, { user: findUser }, adapter)
    const request = fakeRequest('GET', bearer(plainTextToken))
    const answer = await resolveWith(downGuard, request).catch((e: unknown) => e)
    expect(refusal(answer)).toEqual({ status: 503, code: 'storage_unavailable', challenge: undefined })
    expect((answer as HttpAnswer).body).not.toContain(plainTextToken.split('|')[1])
    expect(userCalls).toEqual([])
  })

  it('answers 503 too when a plain text without its id makes the store look the hash up', async () => {
    const down = createTokens({ store: new DownStore(), permissions, lastUsed: false })
    const { plainTextToken } = await issue(ada)
    const secretOnly = plainTextToken.split('|')[1] as string
    const downGuard = new RequestGuard<User, Permission, FakeRequest>(down, { user: findUser }, adapter)
    const request = fakeRequest('GET', bearer(secretOnly))
    expect(refusal(await resolveWith(downGuard, request).catch((e: unknown) => e)).status).toBe(503)
  })

  it('lets an error of the app’s own `user` reject, for the framework’s error handling', async () => {
    const { plainTextToken } = await issue(ada)
    const failing = guard({
      user: () => {
        throw new TypeError('a bug in the app')
      },
    })
    await expect(resolveWith(failing, fakeRequest('GET', bearer(plainTextToken)))).rejects.toBeInstanceOf(
      TypeError,
    )
  })

  it('does not reach the store when the session answers, even when the store is down', async () => {
    const down = createTokens({ store: new DownStore(), permissions, lastUsed: false })
    const downGuard = new RequestGuard<User, Permission, FakeRequest>(
      down,
      {
        user: findUser,
        session: (r) => r.session,
      },
      adapter,
    )
    const request = fakeRequest('GET', bearer('1|whatever'), { session: ada })
    expect((await resolveWith(downGuard, request)).user).toBe(ada)
  })
})

describe('RequestGuard: required and realm are the guard’s', () => {
  const strict = (options: Partial<AuthOptions<User, Permission, FakeRequest>> = {}) =>
    new RequestGuard<User, Permission, FakeRequest>(tokens, { user: findUser, ...options }, adapter)

  it('answers a guest 401 by default, with a bare challenge, and one answer for every guest', async () => {
    const g = strict()
    const answer = g.resolve(fakeRequest('GET'))
    expect(refusal(answer)).toEqual({ status: 401, code: 'unauthenticated', challenge: 'Bearer realm="api"' })
    expect(g.resolve(fakeRequest('GET'))).toBe(answer)
  })

  it('answers a refused token 401 invalid_token, in the realm it was given', async () => {
    const answer = await strict({ realm: 'acme' }).resolve(fakeRequest('GET', bearer('1|nope')))
    expect(refusal(answer)).toEqual({
      status: 401,
      code: 'unauthenticated',
      challenge:
        'Bearer realm="acme", error="invalid_token", error_description="The access token is invalid or expired."',
    })
  })

  it('hands its realm to the auth, whose refusals carry it', async () => {
    const guest = await resolveWith(guard({ realm: 'acme' }), fakeRequest('GET'))
    const error = await guest.authorize(() => true, null).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UnauthenticatedError)
    expect((error as UnauthenticatedError).realm).toBe('acme')
  })

  it.each([
    ['', 'an empty realm'],
    ['a"b', 'a quote'],
    ['a\\b', 'a backslash'],
    ['a\nb', 'a line break'],
  ])('refuses the realm %j (%s) at construction', (realm) => {
    expect(() => strict({ realm })).toThrow(MisconfigurationError)
  })

  it('refuses a `required` that is not a boolean', () => {
    expect(() => strict({ required: 'yes' as unknown as boolean })).toThrow(MisconfigurationError)
  })
})
