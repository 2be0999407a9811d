import { beforeEach, describe, expect, it } from 'vitest'
import { ApiTokenRoutes, type ApiTokenRoutesOptions, type ApiTokenView } from './api-token-routes.js'
import { MemoryAuditLog } from './audit-log.js'
import { type Auth, createAuth } from './auth.js'
import { MisconfigurationError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { createTokens, type TokenService } from './token-service.js'
import { TransientToken } from './transient-token.js'

const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})
type Permission = (typeof permissions.permissions)[number]

interface User {
  id: string
  teamId: string
}

const ada: User = { id: '42', teamId: '7' }
const grace: User = { id: '43', teamId: '7' }

interface ListBody {
  tokens: ApiTokenView[]
  availablePermissions: string[]
  defaultPermissions: string[]
}
interface CreateBody {
  token: ApiTokenView
  plainTextToken: string
}
interface UpdateBody {
  token: ApiTokenView
}

class Clock {
  at = new Date('2026-06-01T12:00:00Z').getTime()
  now = (): Date => new Date(this.at)
}

let store: MemoryTokenStore
let clock: Clock
let tokens: TokenService<Permission>
let manager: ApiTokenManager<User, Permission>

type RequestAuth<U, P extends string> = Auth<U | null, P>

/** What a refusing answer holds: its status and body fields, so a test can read `code`, `errors`, `abilities`. */
interface Refusal {
  readonly status: number
  readonly code: string
  readonly challenge: string | undefined
  readonly [field: string]: unknown
}

/**
 * The four management actions as calls of {@link ApiTokenRoutes.handle}: each resolves to `{ status, body }` for a
 * success and rejects with a {@link Refusal} for any other answer. Bearer management is on, for tokens holding
 * `read`, so the rules for tokens that make tokens can be tested here.
 */
class ApiTokenManager<U, P extends string> {
  readonly routes: ApiTokenRoutes<U, P>
  constructor(service: TokenService<P>, options: ApiTokenRoutesOptions<U, P> = {}) {
    this.routes = new ApiTokenRoutes<U, P>(service, { bearerAbility: 'read' as P, ...options })
  }
  list(auth: RequestAuth<U, P>) {
    return this.#run('GET', '', auth)
  }
  create(auth: RequestAuth<U, P>, input: unknown) {
    return this.#run('POST', '', auth, input)
  }
  update(auth: RequestAuth<U, P>, id: string, input: unknown) {
    return this.#run('PUT', `/${encodeURIComponent(id)}`, auth, input)
  }
  delete(auth: RequestAuth<U, P>, id: string) {
    return this.#run('DELETE', `/${encodeURIComponent(id)}`, auth)
  }
  async #run(method: string, path: string, auth: RequestAuth<U, P>, input?: unknown) {
    const body = input === undefined ? null : encoder.encode(JSON.stringify(input))
    const answer = await this.routes.handle({
      method,
      path,
      header: (name) => (name === 'content-type' && body ? 'application/json' : undefined),
      body,
      auth,
    })
    const parsed = answer.body === '' ? undefined : JSON.parse(answer.body, dates)
    if (answer.status >= 300) {
      throw { status: answer.status, challenge: answer.headers['www-authenticate'], ...parsed } as Refusal
    }
    return { status: answer.status, body: parsed as unknown }
  }
}

const encoder = new TextEncoder()

// The answer's dates back as Date objects, as a client would read them.
function dates(key: string, value: unknown): unknown {
  return ['createdAt', 'expiresAt', 'lastUsedAt'].includes(key) && typeof value === 'string'
    ? new Date(value)
    : value
}

beforeEach(() => {
  store = new MemoryTokenStore()
  clock = new Clock()
  tokens = createTokens({ store, permissions, lastUsed: false, now: clock.now })
  manager = new ApiTokenManager<User, Permission>(tokens)
})

/** A first-party session request of `user`. */
function session(user: User): RequestAuth<User, Permission> {
  return createAuth<User | null, Permission>(user, new TransientToken())
}

/** A bearer request of `user`, made with a real token holding `abilities`. */
async function viaToken(user: User, abilities: Permission[]): Promise<RequestAuth<User, Permission>> {
  const { token } = await tokens.create(user.id, 'request token', abilities)
  return createAuth<User | null, Permission>(user, token)
}

/** What a promise rejects with; fails the test when it resolves. */
function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error,
  )
}

async function created(auth: RequestAuth<User, Permission>, input: unknown): Promise<CreateBody> {
  const result = await manager.create(auth, input)
  expect(result.status).toBe(201)
  return result.body as CreateBody
}

async function listed(auth: RequestAuth<User, Permission>): Promise<ListBody> {
  const result = await manager.list(auth)
  expect(result.status).toBe(200)
  return result.body as ListBody
}

/** The abilities the owner's token now has in the store. */
async function abilitiesOf(owner: User, id: string): Promise<readonly string[] | undefined> {
  return (await tokens.list(owner.id)).find((token) => token.id === id)?.abilities
}

describe('ApiTokenRoutes.handle', () => {
  it('answers nothing a cache may keep: every answer, a refusal too, is `no-store`', async () => {
    const { routes } = manager
    const ask = (method: string, path: string, json?: unknown) =>
      routes.handle({
        method,
        path,
        header: (name) => (name === 'content-type' && json ? 'application/json' : undefined),
        body: json === undefined ? null : encoder.encode(JSON.stringify(json)),
        auth: session(ada),
      })
    const made = await ask('POST', '', { name: 'CI' })
    const id = (JSON.parse(made.body) as CreateBody).token.id
    const answers = [made, await ask('GET', ''), await ask('DELETE', `/${id}`), await ask('DELETE', `/${id}`)]
    expect(answers.map((answer) => [answer.status, answer.headers['cache-control']])).toEqual([
      [201, 'no-store'],
      [200, 'no-store'],
      [204, 'no-store'],
      [404, 'no-store'],
    ])
  })
})

describe('ApiTokenManager.list', () => {
  it('answers 200 with the tokens newest first, and the available and default permissions', async () => {
    const first = await created(session(ada), { name: 'first', permissions: ['read'] })
    clock.at += 1_000
    const second = await created(session(ada), { name: 'second', permissions: ['update'] })
    clock.at += 1_000
    const third = await created(session(ada), { name: 'third', permissions: ['delete'] })

    const result = await manager.list(session(ada))
    expect(result.status).toBe(200)
    const body = result.body as ListBody
    expect(body.tokens.map((token) => token.name)).toEqual(['third', 'second', 'first'])
    expect(body.tokens.map((token) => token.id)).toEqual([third.token.id, second.token.id, first.token.id])
    expect(body.availablePermissions).toEqual(['create', 'read', 'update', 'delete'])
    expect(body.defaultPermissions).toEqual(['read'])
  })

  it('shows each token as id, name, abilities, dates, expiry state and metadata only', async () => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read', 'update'] })
    const body = await listed(session(ada))
    expect(body.tokens).toEqual([
      {
        id: token.id,
        name: 'CI',
        abilities: ['read', 'update'],
        lastUsedAt: null,
        createdAt: clock.now(),
        expiresAt: null,
        expired: false,
        metadata: null,
      },
    ])
    expect(Object.keys(body.tokens[0] ?? {}).sort()).toEqual([
      'abilities',
      'createdAt',
      'expired',
      'expiresAt',
      'id',
      'lastUsedAt',
      'metadata',
      'name',
    ])
  })

  it('never shows a hash or a secret', async () => {
    const issued = [
      await created(session(ada), { name: 'one', permissions: ['read'] }),
      await created(session(ada), { name: 'two', permissions: ['delete'] }),
    ]
    const json = JSON.stringify((await manager.list(session(ada))).body)
    expect(json).not.toContain('tokenHash')
    for (const { token, plainTextToken } of issued) {
      const secret = plainTextToken.split('|')[1] as string
      const record = await store.findById(token.id)
      expect(record?.tokenHash).toMatch(/^[0-9a-f]{64}$/)
      expect(json).not.toContain(secret)
      expect(json).not.toContain(record?.tokenHash as string)
    }
  })

  it("shows only the signed-in user's own tokens", async () => {
    await created(session(grace), { name: 'grace', permissions: ['read'] })
    await created(session(ada), { name: 'ada', permissions: ['read'] })
    expect((await listed(session(ada))).tokens.map((token) => token.name)).toEqual(['ada'])
    expect((await listed(session(grace))).tokens.map((token) => token.name)).toEqual(['grace'])
  })

  it('answers an empty list for a user without tokens', async () => {
    expect((await listed(session(ada))).tokens).toEqual([])
  })

  it('lists for a bearer request as well as for a session', async () => {
    const auth = await viaToken(ada, ['read'])
    expect((await listed(auth)).tokens.map((token) => token.name)).toEqual(['request token'])
  })

  it('offers no permissions when the service has no registry', async () => {
    const free = new ApiTokenManager<User, string>(
      createTokens({ store: new MemoryTokenStore(), lastUsed: false }),
    )
    const result = await free.list(createAuth<User>(ada, new TransientToken()))
    expect(result.body).toEqual({ tokens: [], availablePermissions: [], defaultPermissions: [] })
  })
})

describe('ApiTokenManager.create', () => {
  it('answers 201 with the token and a plain text that authenticates as it', async () => {
    const result = await manager.create(session(ada), { name: 'CI deploy', permissions: ['read', 'update'] })
    expect(result.status).toBe(201)
    const body = result.body as CreateBody
    expect(body.token).toEqual({
      id: body.token.id,
      name: 'CI deploy',
      abilities: ['read', 'update'],
      lastUsedAt: null,
      createdAt: clock.now(),
      expiresAt: null,
      expired: false,
      metadata: null,
    })
    expect(body.plainTextToken).toMatch(/^[A-Za-z0-9_-]+\|[A-Za-z0-9]{40}[0-9a-f]{8}$/)
    const authenticated = await tokens.authenticate(body.plainTextToken)
    expect(authenticated?.id).toBe(body.token.id)
    expect(authenticated?.owner).toEqual({ type: 'user', id: ada.id })
    expect(authenticated?.abilities).toEqual(['read', 'update'])
  })

  it('never shows the hash in its answer', async () => {
    const result = await manager.create(session(ada), { name: 'CI', permissions: ['read'] })
    const body = result.body as CreateBody
    const record = await store.findById(body.token.id)
    const json = JSON.stringify(result.body)
    expect(record?.tokenHash).toMatch(/^[0-9a-f]{64}$/)
    expect(json).not.toContain('tokenHash')
    expect(json).not.toContain(record?.tokenHash as string)
  })

  it('drops unknown and duplicate permissions, keeping the order given', async () => {
    const { token } = await created(session(ada), {
      name: 'x',
      permissions: ['delete', 'fly', 'read', 'delete', 'READ', '*', 42, null],
    })
    expect(token.abilities).toEqual(['delete', 'read'])
  })

  it('gives no abilities when permissions are missing, not the defaults', async () => {
    const { token, plainTextToken } = await created(session(ada), { name: 'x' })
    expect(token.abilities).toEqual([])
    expect((await tokens.authenticate(plainTextToken))?.can('read')).toBe(false)
  })

  it('gives no abilities when every permission is unknown', async () => {
    const { token } = await created(session(ada), { name: 'x', permissions: ['fly', 'swim'] })
    expect(token.abilities).toEqual([])
  })

  it.each([
    ['a string', 'read'],
    ['null', null],
    ['an object', { read: true }],
    ['a number', 1],
  ])('refuses permissions that are %s', async (_, permissionsInput) => {
    const error = await rejection(manager.create(session(ada), { name: 'x', permissions: permissionsInput }))
    expect(error).toMatchObject({ code: 'invalid_input' })
    expect((error as Refusal).errors).toEqual({
      permissions: ['The permissions field must be a list.'],
    })
    expect(await tokens.list(ada.id)).toEqual([])
  })

  it.each([
    ['missing', undefined, 'The name field is required.'],
    ['null', null, 'The name field is required.'],
    ['empty', '', 'The name field is required.'],
    ['blank', '   ', 'The name field is required.'],
    ['not a string', 12, 'The name field must be a string.'],
    ['an array', ['CI'], 'The name field must be a string.'],
    ['256 characters long', 'x'.repeat(256), 'The name field must not be greater than 255 characters.'],
  ])('refuses a name that is %s, with errors.name', async (_, name, message) => {
    const input = name === undefined ? { permissions: ['read'] } : { name, permissions: ['read'] }
    const error = await rejection(manager.create(session(ada), input))
    expect(error).toMatchObject({ code: 'invalid_input' })
    expect((error as Refusal).status).toBe(422)
    expect((error as Refusal).errors).toEqual({ name: [message] })
    expect(await tokens.list(ada.id)).toEqual([])
  })

  it('accepts a name of 255 characters, trimmed', async () => {
    const name = 'x'.repeat(255)
    const { token } = await created(session(ada), { name: `  ${name}  ` })
    expect(token.name).toBe(name)
  })

  it.each([
    ['null', null],
    ['an array', [{ name: 'x' }]],
    ['a string', 'CI'],
    ['a number', 42],
  ])('refuses a JSON body that is %s with 400, creating nothing', async (_, input) => {
    const error = await rejection(manager.create(session(ada), input))
    expect(error).toEqual({
      status: 400,
      challenge: undefined,
      message: 'The request body must be a JSON object, such as {"name": "CI"}.',
      code: 'bad_request',
    })
    expect(await tokens.list(ada.id)).toEqual([])
  })

  it('reads no body as an empty object: the name is then missing', async () => {
    const error = await rejection(manager.create(session(ada), undefined))
    expect(error).toMatchObject({
      status: 422,
      code: 'invalid_input',
      errors: { name: ['The name field is required.'] },
    })
  })

  it('accepts expiresAt as an ISO string', async () => {
    const expiresAt = new Date(clock.at + 30 * 24 * 3_600_000)
    const { token, plainTextToken } = await created(session(ada), {
      name: 'x',
      permissions: ['read'],
      expiresAt: expiresAt.toISOString(),
    })
    expect(token.expiresAt).toEqual(expiresAt)
    expect((await tokens.authenticate(plainTextToken))?.expiresAt).toEqual(expiresAt)
  })

  it('accepts expiresAt as epoch milliseconds', async () => {
    const at = clock.at + 3_600_000
    const { token } = await created(session(ada), { name: 'x', expiresAt: at })
    expect(token.expiresAt).toEqual(new Date(at))
  })

  it('treats a null or empty expiresAt as no expiry', async () => {
    expect((await created(session(ada), { name: 'x', expiresAt: null })).token.expiresAt).toBeNull()
    expect((await created(session(ada), { name: 'y', expiresAt: '' })).token.expiresAt).toBeNull()
  })

  it.each([
    ['text that is no date', 'next tuesday'],
    ['an impossible date', '2026-13-45T00:00:00Z'],
    ['a day its month does not have', '2030-02-30'],
    ['a time without an offset, which each server would read in its own zone', '2030-01-31T12:00:00'],
    ['a format Date guesses at', '01/31/2030'],
    ['a number as text', '1'],
    ['a boolean', true],
    ['an object', { date: '2030-01-01' }],
  ])('refuses an expiresAt that is %s', async (_, expiresAt) => {
    const error = await rejection(manager.create(session(ada), { name: 'x', expiresAt }))
    expect(error).toMatchObject({ code: 'invalid_input' })
    expect((error as Refusal).errors).toEqual({
      expiresAt: [
        'The expires at field must be a date such as 2030-01-31 or 2030-01-31T12:00:00Z, with its offset.',
      ],
    })
    expect(await tokens.list(ada.id)).toEqual([])
  })

  it('refuses an expiresAt in the past or now', async () => {
    for (const expiresAt of [new Date(clock.at - 1_000).toISOString(), new Date(clock.at).toISOString()]) {
      const error = await rejection(manager.create(session(ada), { name: 'x', expiresAt }))
      expect(error).toMatchObject({ code: 'invalid_input' })
      expect((error as Refusal).errors).toEqual({
        expiresAt: ['The expires at field must be a date after now.'],
      })
    }
    expect(await tokens.list(ada.id)).toEqual([])
  })

  it('lets a session (TransientToken) grant every permission', async () => {
    const { token } = await created(session(ada), {
      name: 'x',
      permissions: ['create', 'read', 'update', 'delete'],
    })
    expect(token.abilities).toEqual(['create', 'read', 'update', 'delete'])
  })

  it('lets a token grant the abilities it holds', async () => {
    const auth = await viaToken(ada, ['read', 'update'])
    const { token } = await created(auth, { name: 'x', permissions: ['update', 'read'] })
    expect(token.abilities).toEqual(['update', 'read'])
  })

  it('refuses escalation: a token holding only read cannot create one with read and delete', async () => {
    const auth = await viaToken(ada, ['read'])
    const error = await rejection(manager.create(auth, { name: 'x', permissions: ['read', 'delete'] }))
    expect(error).toMatchObject({ code: 'missing_abilities' })
    expect((error as Refusal).abilities).toEqual(['delete'])
    expect((error as Refusal).status).toBe(403)
    expect((await tokens.list(ada.id)).map((token) => token.name)).toEqual(['request token'])
  })

  it('filters unknown permissions before checking escalation', async () => {
    const auth = await viaToken(ada, ['read'])
    const { token } = await created(auth, { name: 'x', permissions: ['read', 'fly', '*'] })
    expect(token.abilities).toEqual(['read'])
  })

  it('creates the token for the signed-in user, whatever the body says', async () => {
    const { plainTextToken } = await created(session(ada), { name: 'x', owner: grace.id, userId: grace.id })
    expect((await tokens.authenticate(plainTextToken))?.owner).toEqual({ type: 'user', id: ada.id })
    expect(await tokens.list(grace.id)).toEqual([])
  })
})

describe('ApiTokenManager.create without a registry', () => {
  it('passes free-form abilities to the service, which checks them', async () => {
    const free = new ApiTokenManager<User, string>(
      createTokens({ store: new MemoryTokenStore(), lastUsed: false }),
    )
    const auth = createAuth<User>(ada, new TransientToken())
    const body = (await free.create(auth, { name: 'x', permissions: ['posts:read', 'posts:read'] }))
      .body as CreateBody
    expect(body.token.abilities).toEqual(['posts:read'])
    await expect(free.create(auth, { name: 'x', permissions: [''] })).rejects.toMatchObject({
      code: 'invalid_input',
    })
    await expect(free.create(auth, { name: 'x', permissions: [1] })).rejects.toMatchObject({
      code: 'invalid_input',
    })
  })
})

describe('ApiTokenManager.update', () => {
  it('answers 200 with the new abilities, which the token then has', async () => {
    const { token, plainTextToken } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    const result = await manager.update(session(ada), token.id, { permissions: ['update', 'delete'] })
    expect(result.status).toBe(200)
    expect((result.body as UpdateBody).token).toEqual({ ...token, abilities: ['update', 'delete'] })
    const authenticated = await tokens.authenticate(plainTextToken)
    expect(authenticated?.can('update')).toBe(true)
    expect(authenticated?.can('read')).toBe(false)
  })

  it('filters the permissions like create does', async () => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    const result = await manager.update(session(ada), token.id, {
      permissions: ['delete', 'fly', 'delete', 'READ'],
    })
    expect((result.body as UpdateBody).token.abilities).toEqual(['delete'])
  })

  it('renames the token when a name is given with the permissions', async () => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    const result = await manager.update(session(ada), token.id, { name: '  Deploys ', permissions: ['read'] })
    expect((result.body as UpdateBody).token.name).toBe('Deploys')
    await expect(manager.update(session(ada), token.id, { name: '', permissions: [] })).rejects.toMatchObject(
      { code: 'invalid_input' },
    )
  })

  // A body without `permissions` is a rename: the service leaves absent abilities unchanged, and so must the route.
  it('keeps the abilities when the body only renames the token', async () => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read', 'update'] })
    const result = await manager.update(session(ada), token.id, { name: 'Deploys' })
    expect((result.body as UpdateBody).token.name).toBe('Deploys')
    expect((result.body as UpdateBody).token.abilities).toEqual(['read', 'update'])
  })

  it('refuses permissions that are not a list, leaving the token unchanged', async () => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    await expect(manager.update(session(ada), token.id, { permissions: 'delete' })).rejects.toMatchObject({
      code: 'invalid_input',
    })
    expect(await abilitiesOf(ada, token.id)).toEqual(['read'])
  })

  it.each([
    ['null', null],
    ['an array', ['read']],
    ['a string', 'read'],
  ])('refuses a body that is %s', async (_, input) => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    await expect(manager.update(session(ada), token.id, input)).rejects.toMatchObject({
      status: 400,
      code: 'bad_request',
    })
    expect(await abilitiesOf(ada, token.id)).toEqual(['read'])
  })

  it("answers NotFoundError for another user's token and leaves it unchanged", async () => {
    const { token, plainTextToken } = await created(session(grace), { name: 'grace', permissions: ['read'] })
    const error = await rejection(manager.update(session(ada), token.id, { permissions: ['delete'] }))
    expect(error).toMatchObject({ code: 'not_found' })
    expect((error as Refusal).status).toBe(404)
    expect(await abilitiesOf(grace, token.id)).toEqual(['read'])
    expect((await tokens.authenticate(plainTextToken))?.abilities).toEqual(['read'])
  })

  it.each([
    ['an unknown id', '999'],
    ['an id with a bar', '1|x'],
    ['a leading zero', '01'],
    ['a sign', '-1'],
    ['an exponent', '1e3'],
    ['more digits than a bigint holds', '9'.repeat(20)],
    ['a path', '../1'],
    ['an id of 65 characters', '1'.repeat(65)],
  ])('answers NotFoundError for %s', async (_, id) => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    await expect(manager.update(session(ada), id, { permissions: ['delete'] })).rejects.toMatchObject({
      code: 'not_found',
    })
    expect(await abilitiesOf(ada, token.id)).toEqual(['read'])
  })

  it('refuses escalation: a token holding only read cannot give a token read and delete', async () => {
    const auth = await viaToken(ada, ['read'])
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    const error = await rejection(manager.update(auth, token.id, { permissions: ['read', 'delete'] }))
    expect(error).toMatchObject({ code: 'missing_abilities' })
    expect((error as Refusal).abilities).toEqual(['delete'])
    expect(await abilitiesOf(ada, token.id)).toEqual(['read'])
  })

  it('refuses escalation of the very token making the request', async () => {
    const auth = await viaToken(ada, ['read'])
    const own = auth.token as PersonalAccessToken<Permission>
    await expect(manager.update(auth, own.id, { permissions: ['read', 'delete'] })).rejects.toMatchObject({
      code: 'missing_abilities',
    })
    expect(await abilitiesOf(ada, own.id)).toEqual(['read'])
  })

  it('lets a token narrow a token to abilities it holds, and a session grant any', async () => {
    const auth = await viaToken(ada, ['read', 'update'])
    const { token } = await created(session(ada), { name: 'CI', permissions: ['create'] })
    const narrowed = await manager.update(auth, token.id, { permissions: ['read'] })
    expect((narrowed.body as UpdateBody).token.abilities).toEqual(['read'])
    const widened = await manager.update(session(ada), token.id, {
      permissions: ['create', 'read', 'update', 'delete'],
    })
    expect((widened.body as UpdateBody).token.abilities).toEqual(['create', 'read', 'update', 'delete'])
  })
})

describe('ApiTokenManager.delete', () => {
  it('answers 204 without a body, after which the token no longer authenticates', async () => {
    const { token, plainTextToken } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    const result = await manager.delete(session(ada), token.id)
    expect(result).toEqual({ status: 204 })
    expect(await tokens.authenticate(plainTextToken)).toBeNull()
    expect((await listed(session(ada))).tokens).toEqual([])
  })

  it("answers NotFoundError for another user's token, which keeps working", async () => {
    const { token, plainTextToken } = await created(session(grace), { name: 'grace', permissions: ['read'] })
    const error = await rejection(manager.delete(session(ada), token.id))
    expect(error).toMatchObject({ code: 'not_found' })
    expect((error as Refusal).status).toBe(404)
    expect((await tokens.authenticate(plainTextToken))?.id).toBe(token.id)
  })

  it.each([
    ['an unknown id', '999'],
    ['a malformed id', 'a b'],
    ['a leading zero', '01'],
  ])('answers NotFoundError for %s', async (_, id) => {
    await created(session(ada), { name: 'CI', permissions: ['read'] })
    await expect(manager.delete(session(ada), id)).rejects.toMatchObject({ code: 'not_found' })
    expect((await listed(session(ada))).tokens).toHaveLength(1)
  })

  it('answers NotFoundError the second time the same token is deleted', async () => {
    const { token } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    await manager.delete(session(ada), token.id)
    await expect(manager.delete(session(ada), token.id)).rejects.toMatchObject({ code: 'not_found' })
  })

  it('lets a bearer request delete one of its own tokens', async () => {
    const auth = await viaToken(ada, ['read'])
    const { token, plainTextToken } = await created(session(ada), { name: 'CI', permissions: ['read'] })
    expect((await manager.delete(auth, token.id)).status).toBe(204)
    expect(await tokens.authenticate(plainTextToken)).toBeNull()
  })
})

describe('ApiTokenManager: guests', () => {
  const actions: [string, (auth: RequestAuth<User, Permission>) => Promise<unknown>][] = [
    ['list', (auth) => manager.list(auth)],
    ['create', (auth) => manager.create(auth, { name: 'x', permissions: ['read'] })],
    ['update', (auth) => manager.update(auth, '1', { permissions: ['read'] })],
    ['delete', (auth) => manager.delete(auth, '1')],
  ]

  it.each(actions)('%s throws UnauthenticatedError for a guest, touching nothing', async (_, action) => {
    const { token } = await tokens.create(ada.id, 'CI', ['read'])
    const error = await rejection(action(createAuth<User | null, Permission>(null, null)))
    expect(error).toMatchObject({ code: 'unauthenticated' })
    expect((error as Refusal).status).toBe(401)
    expect((error as Refusal).challenge).toBe('Bearer realm="api"')
    expect(await abilitiesOf(ada, token.id)).toEqual(['read'])
    expect(await tokens.list(ada.id)).toHaveLength(1)
  })

  it.each(actions)('%s passes tokenRejected on when the request’s token was refused', async (_, action) => {
    const error = await rejection(
      action(createAuth<User | null, Permission>(null, null, { tokenRejected: true })),
    )
    expect(error).toMatchObject({ code: 'unauthenticated' })
    expect((error as Refusal).challenge).toContain('error="invalid_token"')
  })

  it.each(actions)('%s throws UnauthenticatedError for a user without a token', async (_, action) => {
    await expect(action(createAuth<User | null, Permission>(ada, null))).rejects.toMatchObject({
      code: 'unauthenticated',
    })
  })

  it('checks sign-in before the body', async () => {
    await expect(manager.create(createAuth<User | null, Permission>(null, null), null)).rejects.toMatchObject(
      { code: 'unauthenticated' },
    )
  })
})

describe('ApiTokenManager: owners', () => {
  it('uses the `owner` option, so team members share the team’s tokens', async () => {
    const teams = new ApiTokenManager<User, Permission>(tokens, {
      owner: (user) => ({ type: 'team', id: user.teamId }),
    })
    const result = await teams.create(session(ada), { name: 'Team deploys', permissions: ['read'] })
    const { token, plainTextToken } = result.body as CreateBody
    expect((await tokens.authenticate(plainTextToken))?.owner).toEqual({ type: 'team', id: '7' })

    const seenByGrace = (await teams.list(session(grace))).body as ListBody
    expect(seenByGrace.tokens.map((t) => t.id)).toEqual([token.id])
    expect(await tokens.list(ada.id)).toEqual([])

    const updated = await teams.update(session(grace), token.id, { permissions: ['update'] })
    expect((updated.body as UpdateBody).token.abilities).toEqual(['update'])
    // The default manager owns tokens by user id: the team's token is not ada's.
    await expect(manager.delete(session(ada), token.id)).rejects.toMatchObject({ code: 'not_found' })
    expect((await teams.delete(session(grace), token.id)).status).toBe(204)
  })

  it('accepts a numeric or bigint user id', async () => {
    for (const id of [42, 42n]) {
      const numeric = new ApiTokenManager<{ id: number | bigint }, Permission>(tokens)
      const auth = createAuth<{ id: number | bigint }, Permission>({ id }, new TransientToken())
      const { plainTextToken } = (await numeric.create(auth, { name: 'x' })).body as CreateBody
      expect((await tokens.authenticate(plainTextToken))?.owner).toEqual({ type: 'user', id: '42' })
    }
    expect(await tokens.list('42')).toHaveLength(2)
  })

  it.each([
    ['no id', { name: 'Ada' }],
    ['a null id', { id: null }],
    ['an object id', { id: { value: 42 } }],
  ])('throws MisconfigurationError for a user with %s and no `owner` option', async (_, user) => {
    const anyUser = new ApiTokenManager<object, Permission>(tokens)
    const auth = createAuth<object, Permission>(user, new TransientToken())
    await expect(anyUser.list(auth)).rejects.toMatchObject({ code: 'misconfigured' })
    await expect(anyUser.create(auth, { name: 'x' })).rejects.toMatchObject({ code: 'misconfigured' })
    await expect(anyUser.update(auth, '1', { permissions: [] })).rejects.toMatchObject({
      code: 'misconfigured',
    })
    await expect(anyUser.delete(auth, '1')).rejects.toMatchObject({ code: 'misconfigured' })
  })

  it('throws MisconfigurationError at construction without a token service', () => {
    for (const service of [undefined, null, {}]) {
      expect(
        () => new ApiTokenManager<User, Permission>(service as unknown as TokenService<Permission>),
      ).toThrow(MisconfigurationError)
    }
  })
})

describe('ApiTokenRoutes: first-party by default', () => {
  const request = (
    method: string,
    path: string,
    auth: RequestAuth<User, Permission> | undefined,
    body?: string,
  ) => ({
    method,
    path,
    header: (name: string) =>
      name === 'content-type' && body !== undefined ? 'application/json' : undefined,
    body: body === undefined ? null : encoder.encode(body),
    auth,
  })
  const read = async (
    answer: Promise<{ status: number; headers: Readonly<Record<string, string>>; body: string }>,
  ) => {
    const { status, headers, body } = await answer
    return { status, headers, body: body === '' ? null : JSON.parse(body) }
  }

  it('rejects, for the framework to report, a setup that fails only once a request runs', async () => {
    // A session user without an `id` and no `owner`: answered here, it was a 500 nobody heard of.
    const routes = new ApiTokenRoutes<object, Permission>(tokens)
    const noId = createAuth<object, Permission>({ name: 'Ada' }, new TransientToken())
    await expect(routes.handle({ ...request('GET', '', undefined), auth: noId })).rejects.toBeInstanceOf(
      MisconfigurationError,
    )
    // No `auth` middleware before the routes.
    await expect(routes.handle(request('GET', '', undefined))).rejects.toBeInstanceOf(MisconfigurationError)
  })

  it('takes a session user whose id is an object that writes itself as text (an ObjectId) as its owner', async () => {
    const routes = new ApiTokenRoutes<{ id: object }, Permission>(tokens)
    const objectId = { toString: () => '65a1f0c2e4b0a1b2c3d4e5f6' }
    await tokens.create('65a1f0c2e4b0a1b2c3d4e5f6', 'mongo', ['read'])
    const auth = createAuth<{ id: object } | null, Permission>({ id: objectId }, new TransientToken())
    const answer = await read(routes.handle({ ...request('GET', '', undefined), auth }))
    expect(answer.status).toBe(200)
    expect(answer.body.tokens.map((token: ApiTokenView) => token.name)).toEqual(['mongo'])
  })

  it('refuses every action to a bearer token, whatever it holds, with 403 session_required, touching nothing', async () => {
    const routes = new ApiTokenRoutes<User, Permission>(tokens)
    const auth = await viaToken(ada, ['create', 'read', 'update', 'delete'])
    const { token } = await tokens.create(ada.id, 'kept', ['read'])
    for (const [method, path, body] of [
      ['GET', ''],
      ['POST', '', '{"name":"x"}'],
      ['PUT', `/${token.id}`, '{"permissions":[]}'],
      ['DELETE', `/${token.id}`],
    ] as const) {
      const answer = await read(routes.handle(request(method, path, auth, body)))
      expect(answer.status).toBe(403)
      expect(answer.body).toEqual({
        message:
          'Tokens are managed from the app’s own signed-in session; an API token cannot manage tokens here.',
        code: 'session_required',
      })
    }
    expect(await abilitiesOf(ada, token.id)).toEqual(['read'])
    expect(await tokens.list(ada.id)).toHaveLength(2)
  })

  it('with bearerAbility, lets a token holding it through and refuses one without it, naming it', async () => {
    const routes = new ApiTokenRoutes<User, Permission>(tokens, { bearerAbility: 'create' })
    expect((await routes.handle(request('GET', '', await viaToken(ada, ['create'])))).status).toBe(200)
    const refused = await read(routes.handle(request('GET', '', await viaToken(ada, ['read', 'update']))))
    expect(refused.status).toBe(403)
    expect(refused.body.abilities).toEqual(['create'])
    expect(refused.headers['www-authenticate']).toBe(
      'Bearer realm="api", error="insufficient_scope", scope="create"',
    )
  })

  it('records where a request came from: the guard’s reading first, else the adapter’s address and user agent', async () => {
    const audit = new MemoryAuditLog()
    const audited = createTokens({ store, permissions, lastUsed: false, now: clock.now, audit })
    const routes = new ApiTokenRoutes<User, Permission>(audited)
    const sent = (auth: RequestAuth<User, Permission>) => ({
      ...request('POST', '', auth, '{"name":"x"}'),
      address: '203.0.113.9',
      header: (name: string) => ({ 'content-type': 'application/json', 'user-agent': 'adapter-agent' })[name],
    })
    // An auth no guard built (actingAs in an app's tests): the adapter's reading.
    expect((await routes.handle(sent(session(ada)))).status).toBe(201)
    // The guard's reading (its clientAddress) wins over the adapter's.
    const client = { ip: '198.51.100.4', userAgent: 'guard-agent' }
    const guarded = createAuth<User | null, Permission>(ada, new TransientToken(), { client })
    expect((await routes.handle(sent(guarded))).status).toBe(201)
    expect(audit.all().map((event) => [event.ip, event.userAgent])).toEqual([
      ['203.0.113.9', 'adapter-agent'],
      ['198.51.100.4', 'guard-agent'],
    ])
  })

  it('records the signed-in user as the actor, and no actor rather than a team’s id read as a user’s', async () => {
    const audit = new MemoryAuditLog()
    const audited = createTokens({ store, permissions, lastUsed: false, now: clock.now, audit })
    const create = async (routes: ApiTokenRoutes<User, Permission>, user: User) => {
      const auth = createAuth<User | null, Permission>(user, new TransientToken())
      expect((await routes.handle(request('POST', '', auth, '{"name":"x"}'))).status).toBe(201)
    }
    const teams = { owner: (user: User) => ({ type: 'team', id: user.teamId }) }
    await create(new ApiTokenRoutes<User, Permission>(audited, teams), ada)
    // A user object without an id of its own, whose team owns the tokens.
    const { id: _, ...withoutId } = ada
    await create(new ApiTokenRoutes<User, Permission>(audited, teams), withoutId as User)
    // A bare owner id is the user's own: it names the actor.
    await create(
      new ApiTokenRoutes<User, Permission>(audited, { owner: (user) => `u-${user.teamId}` }),
      withoutId as User,
    )
    expect(audit.all().map((event) => event.actor)).toEqual([
      { type: 'user', id: ada.id },
      null,
      { type: 'user', id: `u-${ada.teamId}` },
    ])
  })

  it('answers in the realm of the request’s guard', async () => {
    const routes = new ApiTokenRoutes<User, Permission>(tokens)
    const guest = createAuth<User | null, Permission>(null, null, { realm: 'acme' })
    const answer = await routes.handle(request('GET', '', guest))
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="acme"')
  })

  it('routes by the path below the prefix: 404 deeper, 405 with Allow for other methods, HEAD as GET without a body', async () => {
    const routes = new ApiTokenRoutes<User, Permission>(tokens)
    const me = session(ada)
    expect((await read(routes.handle(request('GET', '/1/more', me)))).status).toBe(404)
    expect((await read(routes.handle(request('GET', 'x', me)))).status).toBe(404)
    const patch = await read(routes.handle(request('PATCH', '/', me)))
    expect([patch.status, patch.headers.allow, patch.body.code]).toEqual([
      405,
      'GET, HEAD, POST',
      'method_not_allowed',
    ])
    const getOne = await read(routes.handle(request('GET', '/1', me)))
    expect([getOne.status, getOne.headers.allow]).toEqual([405, 'PUT, DELETE'])
    const head = await routes.handle(request('HEAD', '', me))
    const get = await routes.handle(request('GET', '', me))
    expect([head.status, head.body, head.headers['content-length']]).toEqual([
      200,
      '',
      get.headers['content-length'],
    ])
  })

  it('answers 401 before reading a body or an id', async () => {
    const routes = new ApiTokenRoutes<User, Permission>(tokens)
    const guest = createAuth<User | null, Permission>(null, null)
    expect((await routes.handle(request('PUT', '/%ff', guest, 'not json'))).status).toBe(401)
  })

  it('rejects, as a wiring mistake, when no auth middleware ran before it', async () => {
    const routes = new ApiTokenRoutes<User, Permission>(tokens)
    await expect(routes.handle(request('GET', '', undefined))).rejects.toThrow(
      /use auth\(tokens, options\) before/,
    )
  })

  it.each([
    ['a prefix without a leading slash', { prefix: 'user/api-tokens' }],
    ['a prefix with a trailing slash', { prefix: '/user/api-tokens/' }],
    ['a prefix that needs encoding', { prefix: '/user/api tokens' }],
    ['a body limit of 0', { bodyLimit: 0 }],
    ['a body limit that is not a whole number', { bodyLimit: 1.5 }],
    ['a bearerAbility that is not a permission', { bearerAbility: 'manage' as Permission }],
    ['an empty bearerAbility', { bearerAbility: '' as Permission }],
    ['an owner that is not a function', { owner: 'id' as unknown as (user: User) => string }],
  ])('refuses %s at construction', (_, options) => {
    expect(() => new ApiTokenRoutes<User, Permission>(tokens, options)).toThrow(MisconfigurationError)
  })
})
