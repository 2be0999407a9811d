import { beforeEach, describe, expect, it } from 'vitest'
import {
  ForbiddenError,
  InvalidInputError,
  MisconfigurationError,
  MissingAbilitiesError,
  StorageUnavailableError,
  UnauthenticatedError,
} from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import { PersonalAccessToken } from './personal-access-token.js'
import { hashSecret } from './plain-text-token.js'
import { type AuthenticationFailure, createTokens, type TokenServiceOptions } from './token-service.js'
import type { ExpiredTokenCriteria, TokenStore } from './token-store.js'
import { TransientToken } from './transient-token.js'

const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})
type Permission = (typeof permissions.permissions)[number]

class Clock {
  at = new Date('2026-06-01T12:00:00Z').getTime()
  now = (): Date => new Date(this.at)
  advance(ms: number): void {
    this.at += ms
  }
}

/** A MemoryTokenStore that counts calls, so tests can see what reached storage. */
class CountingStore extends MemoryTokenStore {
  calls: string[] = []
  override async findById(id: string) {
    this.calls.push('findById')
    return super.findById(id)
  }
  override async findByHash(hash: string) {
    this.calls.push('findByHash')
    return super.findByHash(hash)
  }
  override async touch(uses: ReadonlyMap<string, Date>) {
    this.calls.push(`touch:${[...uses.keys()].join(',')}`)
    return super.touch(uses)
  }
}

let store: CountingStore
let clock: Clock
let failures: AuthenticationFailure[]

let cacheOption: boolean = false

function service(options: Partial<TokenServiceOptions<Permission>> = {}) {
  return createTokens({
    store,
    permissions,
    cache: cacheOption,
    now: clock.now,
    lastUsed: { flushDelay: 60_000 },
    on: { failed: ({ reason }) => failures.push(reason) },
    ...options,
  })
}

/**
 * The token service's behaviour, run with the verification cache off and on: the cache may never change an answer.
 */
export function tokenServiceSuite(cache: boolean): void {
  cacheOption = cache
  beforeEach(() => {
    store = new CountingStore()
    clock = new Clock()
    failures = []
  })

  describe('create', () => {
    it('issues a token in Sanctum 4 format and stores only its hash', async () => {
      const tokens = service()
      const { token, plainTextToken } = await tokens.create('42', 'CI deploy', ['read', 'update'])
      expect(plainTextToken).toMatch(/^1\|[A-Za-z0-9]{40}[0-9a-f]{8}$/)
      expect(token).toBeInstanceOf(PersonalAccessToken)
      expect(token.toJSON()).toEqual({
        id: '1',
        owner: { type: 'user', id: '42' },
        name: 'CI deploy',
        abilities: ['read', 'update'],
        lastUsedAt: null,
        expiresAt: null,
        createdAt: clock.now(),
        metadata: null,
      })
      const record = await store.findById('1')
      expect(record?.tokenHash).toBe(hashSecret(plainTextToken.split('|')[1] as string))
      expect(JSON.stringify(record)).not.toContain(plainTextToken.split('|')[1])
    })

    it('uses the prefix', async () => {
      const { plainTextToken } = await service({ prefix: 'acme_' }).create('42', 'x')
      expect(plainTextToken).toMatch(/^1\|acme_[A-Za-z0-9]{40}[0-9a-f]{8}$/)
    })

    it("defaults to the registry's defaults, or to '*' without a registry, and to none where '*' is refused", async () => {
      expect((await service().create('42', 'x')).token.abilities).toEqual(['read'])
      const free = createTokens({ store: new MemoryTokenStore() })
      expect((await free.create('42', 'x')).token.abilities).toEqual(['*'])
      const starless = createTokens({ store: new MemoryTokenStore(), allowWildcard: false })
      expect((await starless.create('42', 'x')).token.abilities).toEqual([])
    })

    it('accepts owners as ids, numbers or { type, id }', async () => {
      const tokens = service()
      expect((await tokens.create(42, 'x')).token.owner).toEqual({ type: 'user', id: '42' })
      expect((await tokens.create(42n, 'x')).token.owner).toEqual({ type: 'user', id: '42' })
      expect((await tokens.create({ type: 'team', id: 7 }, 'x')).token.owner).toEqual({
        type: 'team',
        id: '7',
      })
      const laravel = service({ ownerType: 'App\\Models\\User' })
      expect((await laravel.create('42', 'x')).token.owner).toEqual({ type: 'App\\Models\\User', id: '42' })
    })

    it('trims the name and drops duplicate abilities', async () => {
      const { token } = await service().create('42', '  CI  ', ['read', 'read', 'delete'])
      expect(token.name).toBe('CI')
      expect(token.abilities).toEqual(['read', 'delete'])
    })

    it.each([
      ['an empty name', '', 'The name field is required.'],
      ['a blank name', '   ', 'The name field is required.'],
      ['a missing name', undefined, 'The name field is required.'],
      ['a name that is not a string', 12, 'The name field must be a string.'],
      [
        'a name of 256 characters',
        'x'.repeat(256),
        'The name field must not be greater than 255 characters.',
      ],
      [
        'a name with a NUL byte',
        'a\0b',
        'The name field must not contain control characters or lone surrogates.',
      ],
      // UTF-8 has no form for it: a PostgreSQL driver would store U+FFFD instead.
      [
        'a name with a lone surrogate',
        'CI \ud800',
        'The name field must not contain control characters or lone surrogates.',
      ],
    ])('refuses %s', async (_, name, message) => {
      const error = await service()
        .create('42', name as string)
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidInputError)
      expect((error as InvalidInputError).errors).toEqual({ name: [message] })
      expect(store.calls).toEqual([])
    })

    it('counts 255 emoji as 255 characters', async () => {
      const name = '🔑'.repeat(255)
      expect((await service().create('42', name)).token.name).toBe(name)
    })

    it('refuses undefined abilities, naming them', async () => {
      const error = await service()
        .create('42', 'x', ['read', 'fly', 'READ'] as Permission[])
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidInputError)
      expect((error as InvalidInputError).errors).toEqual({
        abilities: ['These abilities are not defined: "fly", "READ".'],
      })
    })

    it("refuses '*' with a registry unless allowed", async () => {
      await expect(service().create('42', 'x', ['*'])).rejects.toBeInstanceOf(InvalidInputError)
      const { token } = await service({ allowWildcard: true }).create('42', 'x', ['*'])
      expect(token.can('delete')).toBe(true)
    })

    it('refuses abilities that are not a list of strings', async () => {
      await expect(service().create('42', 'x', 'read' as unknown as Permission[])).rejects.toBeInstanceOf(
        InvalidInputError,
      )
      await expect(service().create('42', 'x', [1] as unknown as Permission[])).rejects.toBeInstanceOf(
        InvalidInputError,
      )
    })

    it('refuses a bad owner', async () => {
      // Lone surrogates: `x\ud800` and `x\udbff` would both be stored as `x\ufffd`, one owner.
      const bad = [
        '',
        1.5,
        { type: '', id: '1' },
        { id: 'a\0' },
        'x'.repeat(256),
        'x\ud800',
        { type: '\udbff', id: '1' },
      ]
      for (const owner of bad) {
        await expect(service().create(owner as string, 'x')).rejects.toBeInstanceOf(InvalidInputError)
      }
    })

    it('keeps a future expiresAt and refuses a past or invalid one', async () => {
      const tokens = service()
      const expiresAt = new Date(clock.at + 3_600_000)
      expect((await tokens.create('42', 'x', undefined, { expiresAt })).token.expiresAt).toEqual(expiresAt)
      await expect(
        tokens.create('42', 'x', undefined, { expiresAt: new Date(clock.at) }),
      ).rejects.toBeInstanceOf(InvalidInputError)
      await expect(
        tokens.create('42', 'x', undefined, { expiresAt: new Date(Number.NaN) }),
      ).rejects.toBeInstanceOf(InvalidInputError)
    })

    it('lets a token grant only abilities it holds', async () => {
      const tokens = service()
      const reader = (await tokens.create('42', 'reader', ['read'])).token
      await expect(tokens.create('42', 'x', ['read'], { grantedBy: reader })).resolves.toBeTruthy()
      const error = await tokens
        .create('42', 'x', ['read', 'delete'], { grantedBy: reader })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MissingAbilitiesError)
      expect((error as MissingAbilitiesError).abilities).toEqual(['delete'])
      await expect(
        tokens.create('42', 'x', ['delete'], { grantedBy: new TransientToken() }),
      ).resolves.toBeTruthy()
      const all = service({ allowWildcard: true })
      const star = (await all.create('42', 'star', ['*'])).token
      await expect(all.create('42', 'x', ['*'], { grantedBy: reader })).rejects.toBeInstanceOf(
        MissingAbilitiesError,
      )
      await expect(all.create('42', 'x', ['*'], { grantedBy: star })).resolves.toBeTruthy()
    })

    it('takes an expiry up to the end of the year 9999, and refuses the year 10000 with a 422', async () => {
      const tokens = service()
      const last = new Date('9999-12-31T23:59:59.999Z')
      expect((await tokens.create('42', 'far', ['read'], { expiresAt: last })).token.expiresAt).toEqual(last)
      const error = await tokens
        .create('42', 'too far', ['read'], { expiresAt: new Date('+010000-01-01T00:00:00.000Z') })
        .catch((e: unknown) => e)
      expect(error).toBeInstanceOf(InvalidInputError)
      expect((error as InvalidInputError).errors).toEqual({
        expiresAt: ['The expires at field must be a date before the year 10000.'],
      })
    })

    it('clamps a token made by a token to its maker’s own expiry: absent or later both become it', async () => {
      const tokens = service()
      const end = new Date(clock.at + 2_000)
      const maker = (await tokens.create('42', 'maker', ['read'], { expiresAt: end })).token
      const open = await tokens.create('42', 'no expiry asked', ['read'], { grantedBy: maker })
      expect(open.token.expiresAt).toEqual(end)
      const later = await tokens.create('42', 'later', ['read'], {
        grantedBy: maker,
        expiresAt: new Date(clock.at + 86_400_000),
      })
      expect(later.token.expiresAt).toEqual(end)
      const sooner = new Date(clock.at + 1_000)
      expect(
        (await tokens.create('42', 'sooner', ['read'], { grantedBy: maker, expiresAt: sooner })).token
          .expiresAt,
      ).toEqual(sooner)
      clock.advance(2_000)
      expect(await tokens.authenticate(open.plainTextToken)).toBeNull()
      expect(await tokens.authenticate(later.plainTextToken)).toBeNull()
    })

    it('clamps to the global expiration counted from the maker’s creation', async () => {
      const tokens = service({ expiration: 60 })
      const maker = (await tokens.create('42', 'maker', ['read'])).token
      clock.advance(10 * 60_000)
      const child = await tokens.create('42', 'child', ['read'], { grantedBy: maker })
      expect(child.token.expiresAt).toEqual(new Date(maker.createdAt.getTime() + 60 * 60_000))
    })

    it('sets no bound for a maker that never expires, nor for a session', async () => {
      const tokens = service()
      const maker = (await tokens.create('42', 'maker', ['read'])).token
      expect((await tokens.create('42', 'child', ['read'], { grantedBy: maker })).token.expiresAt).toBeNull()
      const far = new Date(clock.at + 365 * 86_400_000)
      const fromSession = await tokens.create('42', 'x', ['read'], {
        grantedBy: new TransientToken(),
        expiresAt: far,
      })
      expect(fromSession.token.expiresAt).toEqual(far)
    })

    it('gives a token made by a token its maker’s metadata, and refuses other metadata with 403', async () => {
      const tokens = service()
      const maker = (
        await tokens.create('42', 'maker', ['read'], { metadata: { repository: 'acme/api', tier: 1 } })
      ).token
      const child = await tokens.create('42', 'child', ['read'], { grantedBy: maker })
      expect(child.token.metadata).toEqual({ repository: 'acme/api', tier: 1 })
      const same = await tokens.create('42', 'same', ['read'], {
        grantedBy: maker,
        metadata: { tier: 1, repository: 'acme/api' },
      })
      expect(same.token.metadata).toEqual({ repository: 'acme/api', tier: 1 })
      await expect(
        tokens.create('42', 'x', ['read'], { grantedBy: maker, metadata: { repository: 'acme/secret' } }),
      ).rejects.toBeInstanceOf(ForbiddenError)
      const plain = (await tokens.create('42', 'plain', ['read'])).token
      await expect(
        tokens.create('42', 'x', ['read'], { grantedBy: plain, metadata: { admin: true } }),
      ).rejects.toBeInstanceOf(ForbiddenError)
      expect((await tokens.create('42', 'y', ['read'], { grantedBy: plain })).token.metadata).toBeNull()
      const fromSession = await tokens.create('42', 'z', ['read'], {
        grantedBy: new TransientToken(),
        metadata: { any: 'thing' },
      })
      expect(fromSession.token.metadata).toEqual({ any: 'thing' })
      expect(await tokens.list('42')).toHaveLength(6)
    })

    it('refuses with 401 to let a maker that expired since it was verified make anything', async () => {
      const tokens = service()
      const maker = (await tokens.create('42', 'maker', ['read'], { expiresAt: new Date(clock.at + 1_000) }))
        .token
      clock.advance(1_000)
      const error = await tokens.create('42', 'x', ['read'], { grantedBy: maker }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(UnauthenticatedError)
      expect(error).toMatchObject({ status: 401, tokenRejected: true })
      expect(await tokens.list('42')).toHaveLength(1)
    })

    it('holds a maker to what the store has now: revoked, narrowed or retired since the request was verified', async () => {
      const tokens = service()
      const verified = async (abilities: Permission[]) => {
        const { plainTextToken } = await tokens.create('42', 'maker', abilities)
        return (await tokens.authenticate(plainTextToken)) as NonNullable<
          Awaited<ReturnType<typeof tokens.authenticate>>
        >
      }
      const revoked = await verified(['read', 'update'])
      const target = (await tokens.create('42', 'target', ['read'])).token
      await tokens.revoke('42', revoked.id)
      for (const attempt of [
        () => tokens.create('42', 'x', ['read'], { grantedBy: revoked }),
        () => tokens.update('42', target.id, { abilities: ['read', 'update'], grantedBy: revoked }),
        () => tokens.rotate('42', target.id, { grantedBy: revoked }),
      ]) {
        expect(await attempt().catch((e: unknown) => e)).toBeInstanceOf(UnauthenticatedError)
      }
      const narrowed = await verified(['read', 'update'])
      await tokens.update('42', narrowed.id, { abilities: ['read'] })
      const refused = await tokens
        .create('42', 'x', ['update'], { grantedBy: narrowed })
        .catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(MissingAbilitiesError)
      expect(await tokens.create('42', 'x', ['read'], { grantedBy: narrowed })).toBeTruthy()
      // Rotated with a grace period, the old token ends sooner: what it makes now ends by then too.
      const retired = await verified(['read'])
      await tokens.rotate('42', retired.id, { grace: 5 })
      const made = await tokens.create('42', 'y', ['read'], { grantedBy: retired })
      expect(made.token.expiresAt?.getTime()).toBe(clock.at + 5 * 60_000)
      expect((await tokens.list('42')).map((token) => token.name).sort()).toEqual([
        'maker',
        'maker',
        'maker',
        'target',
        'x',
        'y',
      ])
    })
  })

  describe('authenticate', () => {
    it('finds the token by id with one read and no write', async () => {
      const tokens = service({ lastUsed: false })
      const { plainTextToken } = await tokens.create('42', 'x', ['read'])
      const found = await tokens.authenticate(plainTextToken)
      expect(found?.id).toBe('1')
      expect(found?.can('read')).toBe(true)
      expect(found?.cant('delete')).toBe(true)
      expect(store.calls).toEqual(['findById'])
    })

    it('finds a token given without its id by its hash', async () => {
      const tokens = service()
      const { plainTextToken } = await tokens.create('42', 'x')
      expect((await tokens.authenticate(plainTextToken.split('|')[1] as string))?.id).toBe('1')
      expect(store.calls).toEqual(['findByHash'])
    })

    it('accepts a Sanctum 2/3 token (40 characters, no checksum) only with legacyTokens', async () => {
      const secret = 'Ab3'.repeat(13).concat('Z') // what Str::random(40) gave
      const now = clock.now()
      const { id } = await store.insert({
        owner: { type: 'user', id: '42' },
        name: 'from Sanctum 3',
        abilities: ['read'],
        tokenHash: hashSecret(secret),
        expiresAt: null,
        createdAt: now,
        updatedAt: now,
      })
      expect(await service().authenticate(`${id}|${secret}`)).toBeNull()
      expect(failures).toEqual(['malformed'])
      const legacy = service({ legacyTokens: true })
      expect((await legacy.authenticate(`${id}|${secret}`))?.name).toBe('from Sanctum 3')
      expect((await legacy.authenticate(secret))?.name).toBe('from Sanctum 3')
      expect(await legacy.authenticate(`${id}|${secret.slice(1)}!`)).toBeNull()
      // New tokens keep Sanctum 4's format, and still verify.
      const { plainTextToken } = await legacy.create('42', 'new')
      expect(plainTextToken.split('|')[1]).toHaveLength(48)
      expect(await legacy.authenticate(plainTextToken)).not.toBeNull()
    })

    it('never asks the store about a malformed token', async () => {
      const tokens = service()
      const { plainTextToken } = await tokens.create('42', 'x')
      const [id, secret] = plainTextToken.split('|') as [string, string]
      const broken = secret.slice(0, 40) + (secret.slice(40) === '00000000' ? '11111111' : '00000000')
      for (const plain of [
        '',
        ' ',
        id,
        `${id}|`,
        `${id}|${broken}`,
        `${id}|${secret.slice(1)}`,
        ` ${plainTextToken}`,
        `x y|${secret}`,
      ]) {
        expect(await tokens.authenticate(plain)).toBeNull()
      }
      expect(store.calls).toEqual([])
      expect(failures.every((reason) => reason === 'malformed')).toBe(true)
    })

    it('refuses an unknown id and a wrong secret', async () => {
      const tokens = service()
      const { plainTextToken } = await tokens.create('42', 'x')
      const other = (await tokens.create('42', 'y')).plainTextToken
      const secret = plainTextToken.split('|')[1]
      expect(await tokens.authenticate(`999|${secret}`)).toBeNull()
      expect(await tokens.authenticate(`2|${secret}`)).toBeNull()
      expect(
        await tokens.authenticate(other.split('|')[1] === secret ? '' : `1|${other.split('|')[1]}`),
      ).toBeNull()
      expect(failures).toEqual(['unknown', 'mismatch', 'mismatch'])
    })

    it('refuses a token past its expiresAt, before writing anything', async () => {
      const tokens = service()
      const { plainTextToken } = await tokens.create('42', 'x', undefined, {
        expiresAt: new Date(clock.at + 1_000),
      })
      clock.advance(999)
      expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      clock.advance(1)
      expect(await tokens.authenticate(plainTextToken)).toBeNull()
      expect(failures).toEqual(['expired'])
    })

    it('judges expiry when the store answers, not when it was asked', async () => {
      const tokens = service()
      const { plainTextToken } = await tokens.create('42', 'x', undefined, {
        expiresAt: new Date(clock.at + 500),
      })
      const find = store.findById.bind(store)
      // A lookup that takes a second, during which the token expires.
      store.findById = async (id) => {
        clock.advance(1_000)
        return find(id)
      }
      expect(await tokens.authenticate(plainTextToken)).toBeNull()
      expect(failures).toEqual(['expired'])
    })

    it('refuses a token older than the global expiration', async () => {
      const tokens = service({ expiration: 60 })
      const { plainTextToken } = await tokens.create('42', 'x')
      clock.advance(60 * 60_000 - 1)
      expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      clock.advance(1)
      expect(await tokens.authenticate(plainTextToken)).toBeNull()
    })

    it('lets authenticateUsing have the last word', async () => {
      const seen: [string, boolean][] = []
      const tokens = service({
        expiration: 1,
        authenticateUsing: (token, isValid) => {
          seen.push([token.name, isValid])
          return token.name === 'keep'
        },
      })
      const keep = (await tokens.create('42', 'keep')).plainTextToken
      const veto = (await tokens.create('42', 'veto')).plainTextToken
      expect(await tokens.authenticate(veto)).toBeNull()
      clock.advance(120_000)
      expect((await tokens.authenticate(keep))?.name).toBe('keep')
      expect(seen).toEqual([
        ['veto', true],
        ['keep', false],
      ])
      expect(failures).toEqual(['rejected'])
    })

    it('does not call authenticateUsing for a wrong secret', async () => {
      let called = false
      const tokens = service({ authenticateUsing: () => (called = true) })
      const { plainTextToken } = await tokens.create('42', 'x')
      const wrong = (await service().create('42', 'y')).plainTextToken.split('|')[1]
      expect(await tokens.authenticate(`1|${wrong}`)).toBeNull()
      expect(called).toBe(false)
      expect(plainTextToken).toBeTruthy()
    })

    it('calls the authenticated hook with the token and never leaks the secret to hooks', async () => {
      const events: unknown[] = []
      const tokens = service({
        on: { authenticated: (t) => events.push(t.id), failed: (e) => events.push(e) },
      })
      const { plainTextToken } = await tokens.create('42', 'x')
      await tokens.authenticate(plainTextToken)
      await tokens.authenticate(`1|${'a'.repeat(48)}`)
      expect(events).toEqual(['1', { reason: 'malformed', tokenId: null }])
      expect(JSON.stringify(events)).not.toContain(plainTextToken.split('|')[1])
    })

    it('survives a hook that throws and reports it', async () => {
      const errors: unknown[] = []
      const tokens = service({
        on: {
          authenticated: () => {
            throw new Error('logger broke')
          },
          error: (e) => errors.push(e),
        },
      })
      const { plainTextToken } = await tokens.create('42', 'x')
      expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      expect(errors).toHaveLength(1)
    })
  })

  describe('last used', () => {
    it('writes nothing per request: one batched touch per interval', async () => {
      const tokens = service({ lastUsed: { interval: 60_000, flushDelay: 60_000 } })
      const a = (await tokens.create('42', 'a')).plainTextToken
      const b = (await tokens.create('42', 'b')).plainTextToken
      for (let i = 0; i < 5; i++) {
        expect((await tokens.authenticate(a))?.lastUsedAt).toEqual(clock.now())
        await tokens.authenticate(b)
      }
      expect(store.calls.filter((c) => c.startsWith('touch'))).toEqual([])
      await tokens.close()
      expect(store.calls.filter((c) => c.startsWith('touch'))).toEqual(['touch:1,2'])
      expect((await store.findById('1'))?.lastUsedAt).not.toBeNull()
      store.calls = []
      clock.advance(59_000)
      await tokens.authenticate(a)
      await tokens.close()
      const touches = () => store.calls.filter((c) => c.startsWith('touch'))
      expect(touches()).toEqual([])
      clock.advance(2_000)
      await tokens.authenticate(a)
      await tokens.close()
      expect(touches()).toEqual(['touch:1'])
    })

    it('writes the time of the latest use before the flush, not the time of the write', async () => {
      const tokens = service({ lastUsed: { interval: 60_000, flushDelay: 60_000 } })
      const { plainTextToken } = await tokens.create('42', 'a')
      const first = clock.now()
      await tokens.authenticate(plainTextToken)
      clock.advance(500)
      const latest = clock.now()
      expect((await tokens.authenticate(plainTextToken))?.lastUsedAt).toEqual(latest)
      clock.advance(15_000) // a slow flush, say after an outage
      await tokens.close()
      expect((await store.findById('1'))?.lastUsedAt).toEqual(latest)
      expect(latest).not.toEqual(first)
    })

    it('never touches a revoked token back to life', async () => {
      const tokens = service()
      const { plainTextToken, token } = await tokens.create('42', 'x')
      await tokens.authenticate(plainTextToken)
      expect(await tokens.revoke('42', token.id)).toBe(true)
      await tokens.close()
      expect(await store.findById(token.id)).toBeNull()
      expect(store.calls.filter((c) => c.startsWith('touch'))).toEqual([])
    })

    it('can be switched off', async () => {
      const tokens = service({ lastUsed: false })
      const { plainTextToken } = await tokens.create('42', 'x')
      expect((await tokens.authenticate(plainTextToken))?.lastUsedAt).toBeNull()
      await tokens.close()
      expect((await store.findById('1'))?.lastUsedAt).toBeNull()
    })
  })

  describe('list, update, revoke', () => {
    it('lists only the owner’s tokens, newest first, without hashes', async () => {
      const tokens = service()
      await tokens.create('42', 'first')
      clock.advance(1)
      await tokens.create('7', 'theirs')
      await tokens.create({ type: 'team', id: '42' }, 'team')
      await tokens.create('42', 'second')
      const list = await tokens.list('42')
      expect(list.map((t) => t.name)).toEqual(['second', 'first'])
      expect(JSON.stringify(list)).not.toMatch(/[0-9a-f]{64}/)
    })

    it('updates only the owner’s token', async () => {
      const tokens = service()
      const { token } = await tokens.create('42', 'x', ['read'])
      clock.advance(1_000)
      const updated = await tokens.update('42', token.id, {
        abilities: ['update', 'delete'],
        name: ' renamed ',
      })
      expect(updated?.abilities).toEqual(['update', 'delete'])
      expect(updated?.name).toBe('renamed')
      expect((await store.findById(token.id))?.updatedAt).toEqual(clock.now())
      expect(await tokens.update('7', token.id, { abilities: ['read'] })).toBeNull()
      expect(await tokens.update('42', '999', { abilities: ['read'] })).toBeNull()
      expect(await tokens.update('42', 'not an id', { abilities: ['read'] })).toBeNull()
      expect((await store.findById(token.id))?.abilities).toEqual(['update', 'delete'])
    })

    it('validates updates like creates, and keeps a token within its granter', async () => {
      const tokens = service()
      const { token } = await tokens.create('42', 'x', ['read'])
      await expect(
        tokens.update('42', token.id, { abilities: ['fly' as Permission] }),
      ).rejects.toBeInstanceOf(InvalidInputError)
      await expect(tokens.update('42', token.id, { name: '' })).rejects.toBeInstanceOf(InvalidInputError)
      await expect(
        tokens.update('42', token.id, { abilities: ['delete'], grantedBy: token }),
      ).rejects.toBeInstanceOf(MissingAbilitiesError)
    })

    it('lets a token add abilities only to a token that ends no later than it does', async () => {
      const tokens = service()
      const maker = (
        await tokens.create('42', 'maker', ['read', 'update'], { expiresAt: new Date(clock.at + 60_000) })
      ).token
      const longer = (await tokens.create('42', 'longer', ['read'])).token
      const shorter = (
        await tokens.create('42', 'shorter', ['read'], { expiresAt: new Date(clock.at + 1_000) })
      ).token
      const widen = tokens.update('42', longer.id, { abilities: ['read', 'update'], grantedBy: maker })
      await expect(widen).rejects.toBeInstanceOf(ForbiddenError)
      expect((await tokens.list('42')).find((t) => t.id === longer.id)?.abilities).toEqual(['read'])
      // Narrowing, or widening one that ends sooner, hands nothing on past the maker's end.
      expect((await tokens.update('42', longer.id, { abilities: [], grantedBy: maker }))?.abilities).toEqual(
        [],
      )
      const widened = await tokens.update('42', shorter.id, {
        abilities: ['read', 'update'],
        grantedBy: maker,
      })
      expect(widened?.abilities).toEqual(['read', 'update'])
      // Another owner's token is not found, whoever asks.
      const theirs = (await tokens.create('7', 'theirs', ['read'], { expiresAt: new Date(clock.at + 1_000) }))
        .token
      expect(await tokens.update('42', theirs.id, { abilities: ['read'], grantedBy: maker })).toBeNull()
    })

    it('lets a token add abilities only to a token of its own metadata, as it may only make and rotate those', async () => {
      const tokens = service()
      const maker = (await tokens.create('42', 'maker', ['read', 'update'], { metadata: { project: 1 } }))
        .token
      const sibling = (await tokens.create('42', 'sibling', ['read'], { metadata: { project: 2 } })).token
      const bare = (await tokens.create('42', 'bare', ['read'])).token
      const own = (await tokens.create('42', 'own', ['read'], { metadata: { project: 1 } })).token
      for (const target of [sibling, bare]) {
        const widen = tokens.update('42', target.id, { abilities: ['read', 'update'], grantedBy: maker })
        await expect(widen, target.name).rejects.toBeInstanceOf(ForbiddenError)
        // Narrowing hands nothing on.
        expect(
          (await tokens.update('42', target.id, { abilities: [], grantedBy: maker }))?.abilities,
        ).toEqual([])
      }
      const widened = await tokens.update('42', own.id, { abilities: ['read', 'update'], grantedBy: maker })
      expect(widened?.abilities).toEqual(['read', 'update'])
    })

    it('changed abilities apply to the next authenticate', async () => {
      const tokens = service()
      const { token, plainTextToken } = await tokens.create('42', 'x', ['read'])
      await tokens.update('42', token.id, { abilities: ['delete'] })
      const found = await tokens.authenticate(plainTextToken)
      expect(found?.can('read')).toBe(false)
      expect(found?.can('delete')).toBe(true)
    })

    it('revokes only the owner’s token', async () => {
      const tokens = service()
      const { token, plainTextToken } = await tokens.create('42', 'x')
      expect(await tokens.revoke('7', token.id)).toBe(false)
      expect(await tokens.revoke('42', 'nope!')).toBe(false)
      expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      expect(await tokens.revoke('42', token.id)).toBe(true)
      expect(await tokens.authenticate(plainTextToken)).toBeNull()
      expect(await tokens.revoke('42', token.id)).toBe(false)
    })

    it('revokes all of an owner’s tokens but one', async () => {
      const tokens = service()
      const keep = await tokens.create('42', 'keep')
      await tokens.create('42', 'a')
      await tokens.create('42', 'b')
      const theirs = await tokens.create('7', 'theirs')
      expect(await tokens.revokeAll('42', { except: keep.token.id })).toBe(2)
      expect((await tokens.list('42')).map((t) => t.name)).toEqual(['keep'])
      expect(await tokens.authenticate(theirs.plainTextToken)).not.toBeNull()
      expect(await tokens.revokeAll('42')).toBe(1)
    })
  })

  describe('prune', () => {
    it('deletes tokens that expired more than `hours` ago', async () => {
      const tokens = service()
      await tokens.create('42', 'old', undefined, { expiresAt: new Date(clock.at + 1_000) })
      await tokens.create('42', 'recent', undefined, { expiresAt: new Date(clock.at + 3_600_000) })
      await tokens.create('42', 'forever')
      clock.advance(3_600_000 + 1_000 + 1)
      expect(await tokens.prune({ hours: 1 })).toBe(1)
      expect((await tokens.list('42')).map((t) => t.name).sort()).toEqual(['forever', 'recent'])
      clock.advance(24 * 3_600_000)
      expect(await tokens.prune()).toBe(1)
    })

    it('with a global expiration, also deletes tokens created more than expiration + hours ago', async () => {
      const tokens = service({ expiration: 60 })
      await tokens.create('42', 'old')
      clock.advance(2 * 3_600_000)
      await tokens.create('42', 'new')
      expect(await tokens.prune({ hours: 1 })).toBe(0)
      clock.advance(1)
      expect(await tokens.prune({ hours: 1 })).toBe(1)
      expect((await tokens.list('42')).map((t) => t.name)).toEqual(['new'])
    })

    it('refuses a negative number of hours', async () => {
      await expect(service().prune({ hours: -1 })).rejects.toBeInstanceOf(MisconfigurationError)
      await expect(service().prune({ hours: Number.NaN })).rejects.toBeInstanceOf(MisconfigurationError)
    })

    it('asks no store about the years before the year 1, however far back hours and expiration reach', async () => {
      const asked: ExpiredTokenCriteria[] = []
      const store = new MemoryTokenStore()
      const deleteExpired = store.deleteExpired.bind(store)
      store.deleteExpired = (criteria) => {
        asked.push(criteria)
        return deleteExpired(criteria)
      }
      const tokens = service({ store, expiration: 1.2e9 })
      await tokens.create('42', 'kept')
      expect(await tokens.prune()).toBe(0)
      expect(await tokens.prune({ hours: 3e9 })).toBe(0)
      expect(await tokens.prune({ hours: Number.MAX_VALUE })).toBe(0)
      const yearOne = new Date('0001-01-01T00:00:00.000Z')
      expect(asked.slice(1)).toEqual([
        { expiredBefore: yearOne, createdBefore: yearOne },
        { expiredBefore: yearOne, createdBefore: yearOne },
      ])
      expect(asked[0]?.createdBefore).toEqual(yearOne)
      expect(await tokens.list('42')).toHaveLength(1)
    })
  })

  describe('storage failures', () => {
    function broken(error: unknown = new Error('connect ECONNREFUSED')): TokenStore {
      const reject = () => Promise.reject(error)
      return {
        insert: reject,
        findById: reject,
        findByHash: reject,
        listByOwner: reject,
        update: reject,
        rotate: reject,
        delete: reject,
        deleteByOwner: reject,
        touch: reject,
        deleteExpired: reject,
      }
    }
    const plain = `1|${'a'.repeat(40)}${'a'.repeat(8)}`

    it('surface as StorageUnavailableError with the cause, never null', async () => {
      const cause = new Error('connect ECONNREFUSED')
      const tokens = createTokens({ store: broken(cause), permissions })
      const valid = (await service().create('42', 'x')).plainTextToken
      const error = await tokens.authenticate(valid).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(StorageUnavailableError)
      expect((error as StorageUnavailableError).cause).toMatchObject({ message: cause.message })
      expect((error as Error).message).not.toContain(valid.split('|')[1])
      for (const call of [
        () => tokens.create('42', 'x'),
        () => tokens.list('42'),
        () => tokens.update('42', '1', { name: 'y' }),
        () => tokens.revoke('42', '1'),
        () => tokens.revokeAll('42'),
        () => tokens.prune(),
      ]) {
        await expect(call()).rejects.toBeInstanceOf(StorageUnavailableError)
      }
      expect(plain).toBeTruthy()
    })

    it('surface the same way when a lookup throws instead of rejecting, and authenticate still returns a promise', async () => {
      const cause = new Error('socket closed')
      const throwing: TokenStore = {
        ...broken(cause),
        findById: () => {
          throw cause
        },
      }
      const valid = (await service().create('42', 'x')).plainTextToken
      const answer = createTokens({ store: throwing, permissions }).authenticate(valid)
      expect(answer).toBeInstanceOf(Promise)
      const error = await answer.catch((e: unknown) => e)
      expect(error).toBeInstanceOf(StorageUnavailableError)
      expect((error as StorageUnavailableError).cause).toMatchObject({ message: cause.message })
    })

    it('await a lookup that answers with a thenable rather than a Promise', async () => {
      // A query builder that runs when awaited (as drizzle's) is a thenable, not a Promise.
      const thenable = <T>(value: T): PromiseLike<T> => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test is about
        then: (resolve) => Promise.resolve(value).then(resolve),
      })
      const { token, plainTextToken } = await service().create('42', 'x')
      const record = await store.findById(token.id)
      const lazy: TokenStore = {
        ...broken(),
        findById: () => thenable(record),
      }
      const found = await createTokens({ store: lazy, permissions, lastUsed: false }).authenticate(
        plainTextToken,
      )
      expect(found?.id).toBe(token.id)
    })

    it('keep a TokenError a driver throws on purpose', async () => {
      const tokens = createTokens({
        store: broken(new InvalidInputError({ name: ['too long for this column'] })),
      })
      await expect(tokens.create('42', 'x')).rejects.toBeInstanceOf(InvalidInputError)
    })

    it('report a failed last-used flush and keep authenticating', async () => {
      const errors: unknown[] = []
      const flaky = new MemoryTokenStore()
      flaky.touch = () => Promise.reject(new Error('down'))
      const tokens = createTokens({ store: flaky, permissions, on: { error: (e) => errors.push(e) } })
      const { plainTextToken } = await tokens.create('42', 'x')
      expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      await tokens.close()
      expect(errors).toHaveLength(1)
      expect(errors[0]).toBeInstanceOf(StorageUnavailableError)
    })
  })

  describe('configuration', () => {
    it.each([
      ['no store', { store: undefined }],
      ['a store missing methods', { store: { findById: () => null } }],
      ['a prefix with a bar', { prefix: 'a|b' }],
      ['a zero expiration', { expiration: 0 }],
      ['an expiration that ends past the year 9999', { expiration: 1e12 }],
      ['a negative interval', { lastUsed: { interval: -1 } }],
      ['an empty owner type', { ownerType: '' }],
    ])('throws at build time for %s', (_, options) => {
      expect(() =>
        createTokens({ store: new MemoryTokenStore(), ...options } as TokenServiceOptions),
      ).toThrow(MisconfigurationError)
    })

    it('does not change the options object', () => {
      const options = Object.freeze({
        store: new MemoryTokenStore(),
        permissions,
        lastUsed: Object.freeze({}),
      })
      expect(() => createTokens(options)).not.toThrow()
    })

    it('exposes the registry for adapters', () => {
      expect(service().permissions).toBe(permissions)
      expect(createTokens({ store: new MemoryTokenStore() }).permissions).toBeNull()
    })
  })
}
