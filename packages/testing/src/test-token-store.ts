import {
  createTokens,
  InvalidInputError,
  isTokenId,
  type NewTokenRecord,
  type TokenOwner,
  type TokenStore,
} from '@jetstream/tokens'
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest'

/**
 * How {@link testTokenStore} gets a store to test.
 *
 * @example
 * ```ts
 * testTokenStore('MyStore', { create: () => new MyStore(db), reset: (store) => store.clear(), close: (store) => store.end() })
 * ```
 */
export interface TokenStoreSuiteOptions<S extends TokenStore = TokenStore> {
  /** Builds a store. Without `reset`, a new one is built for every test; with it, one is built and reused. */
  readonly create: () => S | Promise<S>
  /** Empties the reused store before each test (delete every token). */
  readonly reset?: (store: S) => void | Promise<void>
  /** Releases a store after the last test (close its connections). */
  readonly close?: (store: S) => void | Promise<void>
  /**
   * Another store on the same data, with connections of its own, as a second instance of the app opens it.
   * Required when the store has `watch`: the `watch` check makes its changes there, since `watch` must report
   * changes from any process, not only its own store's (a store whose data lives in one process only may give
   * itself: `peer: (store) => store`). Close it in `close`.
   */
  readonly peer?: (store: S) => TokenStore | Promise<TokenStore>
}

// Building a store may boot a database (PGlite takes seconds on a busy machine): more than Vitest's default 10 s.
const HOOK_TIMEOUT = 60_000

/**
 * Runs every rule of the storage-driver contract against your store, as a Vitest suite. Call it at the top level
 * of a test file.
 *
 * @example
 * ```ts
 * import { testTokenStore } from '@jetstream/testing'
 * import { RedisTokenStore } from './redis-token-store.js'
 *
 * testTokenStore('RedisTokenStore', {
 *   create: () => new RedisTokenStore(new Redis()),
 *   reset: (store) => store.clear(),
 *   close: (store) => store.quit(),
 * })
 * testTokenStore('MemoryTokenStore', { create: () => new MemoryTokenStore(), peer: (store) => store }) // a new store per test
 * ```
 */
export function testTokenStore<S extends TokenStore>(name: string, options: TokenStoreSuiteOptions<S>): void {
  describe(`${name} keeps the TokenStore contract`, () => {
    let store: S
    const built: S[] = []
    beforeEach(async () => {
      const { reset } = options
      if (reset && built[0]) {
        store = built[0]
      } else {
        store = await options.create()
        built.push(store)
      }
      await reset?.(store)
    }, HOOK_TIMEOUT)
    afterAll(async () => {
      for (const each of built) await options.close?.(each)
    }, HOOK_TIMEOUT)

    const alice: TokenOwner = { type: 'user', id: '42' }
    const bob: TokenOwner = { type: 'user', id: '7' }
    const aliceTeam: TokenOwner = { type: 'team', id: '42' }
    const at = (iso: string) => new Date(iso)
    const base = at('2026-06-01T12:00:00.000Z')

    function record(overrides: Partial<NewTokenRecord> = {}): NewTokenRecord {
      return {
        owner: { ...alice },
        name: 'CLI',
        abilities: ['read'],
        tokenHash: randomHash(),
        expiresAt: null,
        createdAt: new Date(base),
        updatedAt: new Date(base),
        ...overrides,
      }
    }

    describe('insert and find', () => {
      it('returns the stored token with a new id and no lastUsedAt', async () => {
        const input = record({ abilities: ['read', 'update'], expiresAt: at('2027-01-01T00:00:00.123Z') })
        const stored = await store.insert(input)
        expect(isTokenId(stored.id)).toBe(true)
        expect(stored).toEqual({ ...input, id: stored.id, lastUsedAt: null })
        expect(await store.findById(stored.id)).toEqual(stored)
        expect(await store.findByHash(input.tokenHash)).toEqual(stored)
      })

      it('gives ids that are plain words and never repeats one, even after a delete', async () => {
        const first = await store.insert(record())
        await store.delete(alice, first.id)
        const second = await store.insert(record())
        expect(second.id).not.toBe(first.id)
        expect(second.id).toMatch(/^[A-Za-z0-9_-]{1,64}$/)
        expect(isTokenId(second.id)).toBe(true)
      })

      it('knows a token by its one id: another spelling of it finds nothing', async () => {
        const stored = await store.insert(record())
        const id = stored.id
        const spellings = [`0${id}`, `00${id}`, `-${id}`, `+${id}`, ` ${id}`, `${id} `, id.toUpperCase()]
        for (const spelling of spellings.filter((other) => other !== id)) {
          expect(await store.findById(spelling), spelling).toBeNull()
        }
      })

      it('rejects a duplicate hash', async () => {
        const input = record()
        await store.insert(input)
        await expect(store.insert({ ...input, name: 'copy' })).rejects.toBeTruthy()
      })

      it('keeps text exactly: quotes, backslashes, emoji, 255 characters, SQL', async () => {
        const names = [
          `it's "quoted" \\ back\\slashed`,
          '🔑 clé 鍵 ключ',
          'x'.repeat(255),
          '🔑'.repeat(255),
          "'); DROP TABLE personal_access_tokens; --",
        ]
        for (const name of names) {
          const stored = await store.insert(
            record({ name, owner: { type: 'App\\Models\\User', id: `o'"\\${name.length}` } }),
          )
          const found = await store.findById(stored.id)
          expect(found?.name).toBe(name)
          expect(found?.owner).toEqual({ type: 'App\\Models\\User', id: `o'"\\${name.length}` })
        }
      })

      it('keeps abilities in order, including an empty list and the wildcard', async () => {
        for (const abilities of [[], ['*'], ['delete', 'read', 'posts:write', 'écrire']]) {
          const stored = await store.insert(record({ abilities }))
          expect((await store.findById(stored.id))?.abilities).toEqual(abilities)
        }
      })

      it('keeps dates to the millisecond', async () => {
        const dates = { createdAt: at('2026-06-01T12:34:56.789Z'), updatedAt: at('2026-06-01T12:34:57.001Z') }
        const stored = await store.insert(record({ ...dates, expiresAt: at('2030-12-31T23:59:59.999Z') }))
        const found = await store.findById(stored.id)
        expect(found?.createdAt.toISOString()).toBe('2026-06-01T12:34:56.789Z')
        expect(found?.updatedAt.toISOString()).toBe('2026-06-01T12:34:57.001Z')
        expect(found?.expiresAt?.toISOString()).toBe('2030-12-31T23:59:59.999Z')
      })

      it.each([
        '999999',
        '0',
        'abc',
        '-1',
        '1_000',
        '99999999999999999999999999',
        'x'.repeat(64),
        '00000000-0000-0000-0000-000000000000',
      ])('finds nothing, and does not throw, for the unknown id %j', async (id) => {
        await store.insert(record())
        expect(await store.findById(id)).toBeNull()
      })

      it('finds a token asked for beside unknown ids at the same time, as if each were asked alone', async () => {
        const stored = await store.insert(record())
        const unknown = ['x'.repeat(64), '9'.repeat(26), 'abc', '-1', '00000000-0000-0000-0000-000000000000']
        const found = await Promise.all([stored.id, ...unknown, stored.id].map((id) => store.findById(id)))
        expect(found).toEqual([stored, ...unknown.map(() => null), stored])
      })

      it('finds nothing for an unknown hash', async () => {
        await store.insert(record())
        expect(await store.findByHash('0'.repeat(64))).toBeNull()
        expect(await store.findByHash('')).toBeNull()
      })

      it('hands out fresh objects: changing one changes nothing stored', async () => {
        const input = record()
        const stored = await store.insert(input)
        ;(input.abilities as string[]).push('update')
        input.createdAt.setFullYear(1998)
        // A frozen abilities list may be shared: then the push throws instead of changing anything.
        const change = (abilities: readonly string[] | undefined) => {
          if (!Object.isFrozen(abilities)) (abilities as string[]).push('delete')
        }
        change(stored.abilities)
        stored.createdAt.setFullYear(1999)
        ;(stored.owner as { id: string }).id = 'someone else'
        const found = await store.findById(stored.id)
        expect(found?.abilities).toEqual(['read'])
        expect(found?.createdAt).toEqual(base)
        expect(found?.owner).toEqual(alice)
        change(found?.abilities)
        found?.createdAt.setFullYear(2000)
        expect(await store.findById(stored.id)).toEqual({
          ...input,
          abilities: ['read'],
          createdAt: base,
          id: stored.id,
          lastUsedAt: null,
        })
      })
    })

    describe('fresh objects from every method', () => {
      it('keeps what it stored when the input or any record handed out is changed', async () => {
        const expiresAt = at('2027-01-01T00:00:00.000Z')
        const input = record({ expiresAt: new Date(expiresAt) })
        const stored = await store.insert(input)
        input.expiresAt?.setFullYear(2100)
        input.updatedAt.setFullYear(2100)
        const later = at('2026-06-02T00:00:00.000Z')
        const handedOut = [
          stored,
          await store.findByHash(stored.tokenHash),
          ...(await store.listByOwner(alice)),
          await store.update(alice, stored.id, { name: 'renamed', updatedAt: later }),
        ]
        for (const record of handedOut) {
          record?.expiresAt?.setFullYear(2200)
          record?.updatedAt.setFullYear(2200)
          if (record) (record as { name: string }).name = 'changed'
        }
        const found = await store.findById(stored.id)
        expect(found?.expiresAt).toEqual(expiresAt)
        expect(found?.updatedAt).toEqual(later)
        expect(found?.name).toBe('renamed')
        const copy = record({ name: 'renamed', expiresAt: new Date(expiresAt) })
        const next = await store.rotate(alice, stored.id, copy, null)
        expect(next).not.toBeNull()
        next?.expiresAt?.setFullYear(2200)
        expect((await store.findById(next?.id ?? ''))?.expiresAt).toEqual(expiresAt)
      })
    })

    describe('listByOwner', () => {
      it("lists only the owner's tokens, newest first", async () => {
        const older = await store.insert(record({ name: 'older', createdAt: at('2026-01-01T00:00:00Z') }))
        const newer = await store.insert(record({ name: 'newer', createdAt: at('2026-02-01T00:00:00Z') }))
        const sameTime = await store.insert(
          record({ name: 'same time', createdAt: at('2026-02-01T00:00:00Z') }),
        )
        await store.insert(record({ owner: bob }))
        await store.insert(record({ owner: aliceTeam }))
        const list = (await store.listByOwner(alice)).map((t) => t.id)
        expect(list.slice(0, 2).sort()).toEqual([newer.id, sameTime.id].sort())
        expect(list[2]).toBe(older.id)
      })

      it('orders tokens created at the same instant by id, the same way on every call; numbers numerically, the tenth before the ninth', async () => {
        const same = at('2026-03-01T00:00:00Z')
        const stored = []
        for (let i = 0; i < 12; i++)
          stored.push(await store.insert(record({ name: `same ${i}`, createdAt: same })))
        const ids = stored.map((t) => t.id)
        const listed = (await store.listByOwner(alice)).map((t) => t.id)
        expect([...listed].sort()).toEqual([...ids].sort())
        expect((await store.listByOwner(alice)).map((t) => t.id)).toEqual(listed)
        // Ids in a column of numbers come newest first by value: `10` before `9`, not after it as text.
        if (ids.every((id) => /^[0-9]+$/.test(id))) {
          expect(listed).toEqual([...ids].sort((a, b) => Number(BigInt(b) - BigInt(a))))
        }
      })

      it('gives an empty list for an owner without tokens', async () => {
        expect(await store.listByOwner({ type: 'user', id: 'nobody' })).toEqual([])
      })
    })

    describe('owners', () => {
      it('tells owners apart exactly: by case, by spaces, and by where the type ends and the id begins', async () => {
        const plain = await store.insert(record({ owner: { type: 'user', id: 'abc' } }))
        const split = await store.insert(record({ owner: { type: 'a:b', id: 'c' } }))
        const lookalikes: TokenOwner[] = [
          { type: 'user', id: 'ABC' },
          { type: 'user', id: 'abc ' },
          { type: 'user', id: ' abc' },
          { type: 'User', id: 'abc' },
          { type: 'a', id: 'b:c' },
          { type: 'a:b:c', id: '' },
        ]
        for (const owner of lookalikes) {
          const who = JSON.stringify(owner)
          expect(await store.listByOwner(owner), who).toEqual([])
          for (const token of [plain, split]) {
            expect(await store.update(owner, token.id, { name: 'taken', updatedAt: base }), who).toBeNull()
            expect(await store.rotate(owner, token.id, record(), null), who).toBeNull()
            expect(await store.delete(owner, token.id), who).toBe(false)
          }
          expect(await store.deleteByOwner(owner), who).toEqual([])
        }
        expect(await store.findById(plain.id)).toEqual(plain)
        expect(await store.findById(split.id)).toEqual(split)
      })
    })

    describe('update', () => {
      it('changes the fields given, and only those', async () => {
        const stored = await store.insert(record({ name: 'before', abilities: ['read'] }))
        const later = at('2026-06-02T00:00:00.000Z')
        const renamed = await store.update(alice, stored.id, { name: 'after', updatedAt: later })
        expect(renamed).toEqual({ ...stored, name: 'after', updatedAt: later })
        const widened = await store.update(alice, stored.id, {
          abilities: ['read', 'delete'],
          updatedAt: later,
        })
        expect(widened).toEqual({ ...stored, name: 'after', abilities: ['read', 'delete'], updatedAt: later })
        expect(await store.findById(stored.id)).toEqual(widened)
        expect(await store.findByHash(stored.tokenHash)).toEqual(widened)
      })

      it("leaves another owner's token alone and reports it as not found", async () => {
        const stored = await store.insert(record())
        const changes = { abilities: ['*'], updatedAt: base }
        expect(await store.update(bob, stored.id, changes)).toBeNull()
        expect(await store.update(aliceTeam, stored.id, changes)).toBeNull()
        expect(await store.update(alice, '999999', changes)).toBeNull()
        expect(await store.update(alice, 'abc', changes)).toBeNull()
        expect((await store.findById(stored.id))?.abilities).toEqual(['read'])
      })
    })

    describe('metadata', () => {
      it('keeps a JSON object exactly, or refuses it with InvalidInputError (never drops it)', async () => {
        const metadata = { environment: 'ci', nested: { list: [1, 'two', null, true] }, quote: `it's "x" \\` }
        let stored: Awaited<ReturnType<TokenStore['insert']>>
        try {
          stored = await store.insert(record({ metadata }))
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError)
          expect((error as InvalidInputError).errors.metadata).toBeDefined()
          return
        }
        expect(stored.metadata).toEqual(metadata)
        expect((await store.findById(stored.id))?.metadata).toEqual(metadata)
        expect((await store.findByHash(stored.tokenHash))?.metadata).toEqual(metadata)
        expect((await store.listByOwner(alice))[0]?.metadata).toEqual(metadata)
      })

      it('keeps metadata through an update and into a rotation’s new token, and the input’s later changes out', async () => {
        const metadata = { environment: 'ci', nested: { n: 1 } }
        let stored: Awaited<ReturnType<TokenStore['insert']>>
        try {
          stored = await store.insert(record({ metadata }))
        } catch (error) {
          expect(error).toBeInstanceOf(InvalidInputError)
          return
        }
        metadata.nested.n = 2
        const updated = await store.update(alice, stored.id, { name: 'renamed', updatedAt: base })
        expect(updated?.metadata).toEqual({ environment: 'ci', nested: { n: 1 } })
        expect((await store.findById(stored.id))?.metadata).toEqual({ environment: 'ci', nested: { n: 1 } })
        const next = await store.rotate(
          alice,
          stored.id,
          record({ name: 'renamed', metadata: { carried: true } }),
          null,
        )
        expect(next?.metadata).toEqual({ carried: true })
        expect((await store.findById(next?.id ?? ''))?.metadata).toEqual({ carried: true })
      })

      it('gives a token made without metadata none', async () => {
        const stored = await store.insert(record())
        expect(stored.metadata ?? null).toBeNull()
        expect((await store.findById(stored.id))?.metadata ?? null).toBeNull()
      })
    })

    describe('update of the hash', () => {
      it('moves the token to its new hash: the old one finds nothing', async () => {
        const stored = await store.insert(record())
        const hash = randomHash()
        const later = at('2026-06-02T00:00:00.000Z')
        const rehashed = await store.update(alice, stored.id, { tokenHash: hash, updatedAt: later })
        expect(rehashed).toEqual({ ...stored, tokenHash: hash, updatedAt: later })
        expect(await store.findByHash(hash)).toEqual(rehashed)
        expect(await store.findByHash(stored.tokenHash)).toBeNull()
        expect(await store.findById(stored.id)).toEqual(rehashed)
      })

      it('keeps every other field: the expiry and last use above all', async () => {
        const stored = await store.insert(
          record({ abilities: ['read', 'update'], expiresAt: at('2026-07-01T00:00:00.000Z') }),
        )
        const used = at('2026-06-01T13:00:00.000Z')
        await store.touch(new Map([[stored.id, used]]))
        const later = at('2026-06-02T00:00:00.000Z')
        const hash = randomHash()
        const expected = { ...stored, lastUsedAt: used, tokenHash: hash, updatedAt: later }
        expect(await store.update(alice, stored.id, { tokenHash: hash, updatedAt: later })).toEqual(expected)
        expect(await store.findById(stored.id)).toEqual(expected)
      })

      it("refuses another token's hash and changes nothing", async () => {
        const a = await store.insert(record())
        const b = await store.insert(record())
        await expect(
          store.update(alice, a.id, { tokenHash: b.tokenHash, updatedAt: base }),
        ).rejects.toBeTruthy()
        expect(await store.findById(a.id)).toEqual(a)
        expect(await store.findByHash(b.tokenHash)).toEqual(b)
      })
    })

    describe('update with abilitiesWere', () => {
      it('changes the token only while its abilities are still those given', async () => {
        const token = await store.insert(record({ abilities: ['read', 'delete'] }))
        const later = at('2026-06-02T00:00:00.000Z')
        for (const were of [['read'], ['read', 'delete', 'update'], [], ['delete', 'read ']]) {
          const changes = {
            name: 'changed',
            abilities: ['read', 'update'],
            updatedAt: later,
            abilitiesWere: were,
          }
          expect(await store.update(alice, token.id, changes), JSON.stringify(were)).toBeNull()
        }
        expect(await store.findById(token.id)).toEqual(token)
        const changed = await store.update(alice, token.id, {
          abilities: ['read', 'update'],
          updatedAt: later,
          abilitiesWere: ['read', 'delete'],
        })
        expect(changed?.abilities).toEqual(['read', 'update'])
        expect(
          await store.update(bob, token.id, {
            name: 'x',
            updatedAt: later,
            abilitiesWere: ['read', 'update'],
          }),
        ).toBeNull()
      })

      it('never undoes a narrowing that lands beside it', async () => {
        for (let round = 0; round < 10; round++) {
          const token = await store.insert(record({ abilities: ['read', 'delete'] }))
          await Promise.all([
            store.update(alice, token.id, { abilities: ['read'], updatedAt: base }),
            store.update(alice, token.id, {
              abilities: ['read', 'delete', 'update'],
              updatedAt: base,
              abilitiesWere: ['read', 'delete'],
            }),
          ])
          // Either the checked change came first and the narrowing replaced it, or it found the token narrowed.
          expect((await store.findById(token.id))?.abilities, `round ${round}`).toEqual(['read'])
        }
      })
    })

    describe('rotate', () => {
      it('inserts the new token and deletes the old one when nothing is kept', async () => {
        const old = await store.insert(record({ name: 'deploy', abilities: ['read', 'update'] }))
        const next = record({
          name: 'deploy',
          abilities: ['read', 'update'],
          createdAt: at('2026-06-03T00:00:00Z'),
        })
        const stored = await store.rotate(alice, old.id, next, null)
        expect(stored).toEqual({ ...next, id: stored?.id, lastUsedAt: null })
        expect(stored?.id).not.toBe(old.id)
        expect(await store.findById(old.id)).toBeNull()
        expect(await store.findByHash(old.tokenHash)).toBeNull()
        expect(await store.findByHash(next.tokenHash)).toEqual(stored)
        expect((await store.listByOwner(alice)).map((t) => t.id)).toEqual([stored?.id])
      })

      it("brings the old token's end forward to retireAt, never back", async () => {
        const retireAt = at('2026-06-01T13:00:00.000Z')
        const open = await store.insert(record())
        const later = await store.insert(record({ expiresAt: at('2026-07-01T00:00:00.000Z') }))
        const sooner = await store.insert(record({ expiresAt: at('2026-06-01T12:30:00.000Z') }))
        for (const old of [open, later, sooner]) {
          // The new token ends with the old one, as the service makes it.
          expect(
            await store.rotate(alice, old.id, record({ expiresAt: old.expiresAt }), retireAt),
          ).not.toBeNull()
        }
        expect((await store.findById(open.id))?.expiresAt).toEqual(retireAt)
        expect((await store.findById(later.id))?.expiresAt).toEqual(retireAt)
        expect((await store.findById(sooner.id))?.expiresAt).toEqual(sooner.expiresAt)
        expect(await store.findByHash(open.tokenHash)).not.toBeNull()
        expect(await store.listByOwner(alice)).toHaveLength(6)
      })

      it("changes nothing for another owner's token or an unknown id", async () => {
        const old = await store.insert(record())
        const next = record()
        expect(await store.rotate(bob, old.id, next, null)).toBeNull()
        expect(await store.rotate(aliceTeam, old.id, next, null)).toBeNull()
        expect(await store.rotate(alice, '999999', next, null)).toBeNull()
        expect(await store.rotate(alice, 'abc', next, null)).toBeNull()
        expect(await store.findById(old.id)).toEqual(old)
        expect(await store.findByHash(next.tokenHash)).toBeNull()
      })

      it('changes nothing when the token no longer has the new one’s name and abilities, as after a rename or a narrowing', async () => {
        const old = await store.insert(record({ name: 'deploy', abilities: ['read', 'delete'] }))
        const notCopies = [
          record({ name: 'deploy', abilities: ['read'] }),
          record({ name: 'deploy', abilities: ['read', 'delete', 'update'] }),
          record({ name: 'deploy', abilities: [] }),
          record({ name: 'Deploy', abilities: ['read', 'delete'] }),
          record({ name: 'deploy ', abilities: ['read', 'delete'] }),
        ]
        for (const next of notCopies) {
          const what = `${JSON.stringify(next.name)} ${JSON.stringify(next.abilities)}`
          expect(await store.rotate(alice, old.id, next, null), what).toBeNull()
          expect(await store.rotate(alice, old.id, next, at('2026-06-01T13:00:00.000Z')), what).toBeNull()
          expect(await store.findByHash(next.tokenHash), what).toBeNull()
        }
        expect(await store.findById(old.id)).toEqual(old)
        expect(await store.listByOwner(alice)).toEqual([old])
      })

      it('changes nothing when the token now ends before the new one would, as after a retirement since it was read', async () => {
        const end = at('2026-06-01T13:00:00.000Z')
        const old = await store.insert(record({ expiresAt: end }))
        for (const expiresAt of [null, at('2026-06-01T13:00:00.001Z'), at('2026-07-01T00:00:00.000Z')]) {
          expect(await store.rotate(alice, old.id, record({ expiresAt }), null), String(expiresAt)).toBeNull()
        }
        expect(await store.listByOwner(alice)).toEqual([old])
        expect(await store.rotate(alice, old.id, record({ expiresAt: end }), null)).not.toBeNull()
        const open = await store.insert(record())
        expect(await store.rotate(alice, open.id, record({ expiresAt: null }), null)).not.toBeNull()
      })

      it('refuses a hash already stored and changes nothing', async () => {
        const old = await store.insert(record())
        const other = await store.insert(record())
        await expect(
          store.rotate(alice, old.id, record({ tokenHash: other.tokenHash }), null),
        ).rejects.toBeTruthy()
        expect(await store.findById(old.id)).toEqual(old)
        expect(await store.listByOwner(alice)).toHaveLength(2)
      })

      it('refuses a hash already stored and changes nothing, the old token’s end included', async () => {
        const old = await store.insert(record({ expiresAt: at('2026-07-01T00:00:00.000Z') }))
        const other = await store.insert(record())
        const retireAt = at('2026-06-01T13:00:00.000Z')
        await expect(
          store.rotate(
            alice,
            old.id,
            record({ tokenHash: other.tokenHash, expiresAt: old.expiresAt }),
            retireAt,
          ),
        ).rejects.toBeTruthy()
        expect(await store.findById(old.id)).toEqual(old)
        expect(await store.listByOwner(alice)).toHaveLength(2)
      })

      it('refuses the old token’s own hash, though the old token goes, and changes nothing', async () => {
        const old = await store.insert(record())
        await expect(
          store.rotate(alice, old.id, record({ tokenHash: old.tokenHash }), null),
        ).rejects.toBeTruthy()
        expect(await store.findById(old.id)).toEqual(old)
        expect(await store.listByOwner(alice)).toEqual([old])
      })
    })

    describe('delete', () => {
      it("deletes the owner's token so neither lookup finds it", async () => {
        const stored = await store.insert(record())
        expect(await store.delete(alice, stored.id)).toBe(true)
        expect(await store.findById(stored.id)).toBeNull()
        expect(await store.findByHash(stored.tokenHash)).toBeNull()
        expect(await store.delete(alice, stored.id)).toBe(false)
      })

      it("does not delete another owner's token", async () => {
        const stored = await store.insert(record())
        expect(await store.delete(bob, stored.id)).toBe(false)
        expect(await store.delete(aliceTeam, stored.id)).toBe(false)
        expect(await store.delete(alice, 'abc')).toBe(false)
        expect(await store.findById(stored.id)).not.toBeNull()
      })

      it("deleteByOwner deletes all the owner's tokens but the one kept, and returns their ids", async () => {
        const keep = await store.insert(record())
        const a = await store.insert(record())
        const b = await store.insert(record())
        const theirs = await store.insert(record({ owner: bob }))
        const team = await store.insert(record({ owner: aliceTeam }))
        expect((await store.deleteByOwner(alice, keep.id)).sort()).toEqual([a.id, b.id].sort())
        expect((await store.listByOwner(alice)).map((t) => t.id)).toEqual([keep.id])
        for (const gone of [a, b]) {
          expect(await store.findById(gone.id)).toBeNull()
          expect(await store.findByHash(gone.tokenHash)).toBeNull()
        }
        expect(await store.findById(theirs.id)).not.toBeNull()
        expect(await store.findById(team.id)).not.toBeNull()
        expect(await store.deleteByOwner(alice)).toEqual([keep.id])
        expect(await store.deleteByOwner(alice)).toEqual([])
      })

      it("deleteByOwner deletes every one of the owner's tokens when the one to keep is none of them", async () => {
        const theirs = await store.insert(record({ owner: bob }))
        for (const except of ['999999', 'abc', 'another spelling', "another owner's"]) {
          const mine = [await store.insert(record()), await store.insert(record())]
          const keep =
            except === 'another spelling'
              ? `0${mine[0]?.id}`
              : except === "another owner's"
                ? theirs.id
                : except
          expect((await store.deleteByOwner(alice, keep)).sort(), except).toEqual(
            mine.map((t) => t.id).sort(),
          )
          expect(await store.listByOwner(alice), except).toEqual([])
        }
        expect(await store.findById(theirs.id)).toEqual(theirs)
      })
    })

    describe('touch', () => {
      it('sets each listed token lastUsedAt to its own time of use, in one call', async () => {
        const a = await store.insert(record())
        const b = await store.insert(record())
        const c = await store.insert(record())
        const first = at('2026-06-01T13:00:00.250Z')
        const second = at('2026-06-01T13:00:07.500Z')
        await store.touch(
          new Map([
            [a.id, first],
            [b.id, second],
          ]),
        )
        expect((await store.findById(a.id))?.lastUsedAt).toEqual(first)
        expect((await store.findById(b.id))?.lastUsedAt).toEqual(second)
        expect((await store.findById(c.id))?.lastUsedAt).toBeNull()
      })

      it('never brings a deleted token back, and ignores unknown ids', async () => {
        const gone = await store.insert(record())
        const kept = await store.insert(record())
        await store.delete(alice, gone.id)
        const when = at('2026-06-01T13:00:00Z')
        await store.touch(
          new Map(
            [gone.id, kept.id, '999999', 'abc', 'x'.repeat(64), '9'.repeat(26)].map((id) => [id, when]),
          ),
        )
        expect(await store.findById(gone.id)).toBeNull()
        expect(await store.findByHash(gone.tokenHash)).toBeNull()
        expect((await store.findById(kept.id))?.lastUsedAt).toEqual(at('2026-06-01T13:00:00Z'))
      })

      it('never moves lastUsedAt backwards', async () => {
        const stored = await store.insert(record())
        await store.touch(new Map([[stored.id, at('2026-06-01T14:00:00Z')]]))
        await store.touch(new Map([[stored.id, at('2026-06-01T13:00:00Z')]]))
        expect((await store.findById(stored.id))?.lastUsedAt).toEqual(at('2026-06-01T14:00:00Z'))
      })

      it('accepts an empty batch', async () => {
        await expect(store.touch(new Map())).resolves.toBeUndefined()
      })
    })

    describe('deleteExpired', () => {
      it('deletes tokens that expired before the cutoff, and nothing else', async () => {
        const expired = await store.insert(record({ expiresAt: at('2026-05-01T00:00:00Z') }))
        const valid = await store.insert(record({ expiresAt: at('2026-07-01T00:00:00Z') }))
        const forever = await store.insert(record())
        expect(await store.deleteExpired({ expiredBefore: at('2026-06-01T00:00:00Z') })).toBe(1)
        expect(await store.findById(expired.id)).toBeNull()
        expect(await store.findByHash(expired.tokenHash)).toBeNull()
        expect(await store.findById(valid.id)).not.toBeNull()
        expect(await store.findById(forever.id)).not.toBeNull()
      })

      it('keeps a token that expires at the cutoff itself, or was created then: before means before', async () => {
        const cutoff = at('2026-06-01T00:00:00.000Z')
        const atCutoff = await store.insert(record({ expiresAt: cutoff, createdAt: cutoff }))
        expect(await store.deleteExpired({ expiredBefore: cutoff, createdBefore: cutoff })).toBe(0)
        expect(await store.findById(atCutoff.id)).toEqual(atCutoff)
      })

      it('also deletes tokens created before createdBefore, when given', async () => {
        const old = await store.insert(record({ createdAt: at('2026-01-01T00:00:00Z') }))
        const recent = await store.insert(record({ createdAt: at('2026-06-01T00:00:00Z') }))
        const expired = await store.insert(
          record({ expiresAt: at('2026-05-01T00:00:00Z'), createdAt: recent.createdAt }),
        )
        const criteria = {
          expiredBefore: at('2026-05-15T00:00:00Z'),
          createdBefore: at('2026-03-01T00:00:00Z'),
        }
        expect(await store.deleteExpired(criteria)).toBe(2)
        expect(await store.findById(old.id)).toBeNull()
        expect(await store.findById(expired.id)).toBeNull()
        expect(await store.findById(recent.id)).not.toBeNull()
      })

      it('takes cutoffs as early as the year 1 and as late as the year 9999', async () => {
        const kept = await store.insert(record({ expiresAt: at('2026-05-01T00:00:00Z') }))
        const yearOne = at('0001-01-01T00:00:00.000Z')
        expect(await store.deleteExpired({ expiredBefore: yearOne, createdBefore: yearOne })).toBe(0)
        expect(await store.findById(kept.id)).toEqual(kept)
        expect(await store.deleteExpired({ expiredBefore: at('9999-12-31T23:59:59.999Z') })).toBe(1)
      })
    })

    describe('concurrency', () => {
      it('gives 200 parallel inserts 200 distinct ids', async () => {
        const stored = await Promise.all(Array.from({ length: 200 }, () => store.insert(record())))
        expect(new Set(stored.map((t) => t.id)).size).toBe(200)
        expect(await store.listByOwner(alice)).toHaveLength(200)
      })

      it('lets only one of two parallel inserts of the same hash succeed', async () => {
        const input = record()
        const results = await Promise.allSettled([
          store.insert(input),
          store.insert({ ...input, name: 'twin' }),
        ])
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1)
      })

      it('finds nothing once a delete racing with lookups has resolved', async () => {
        const stored = await store.insert(record())
        const lookups = Array.from({ length: 50 }, () => store.findById(stored.id))
        await store.delete(alice, stored.id)
        await Promise.all(lookups)
        const after = await Promise.all(Array.from({ length: 50 }, () => store.findById(stored.id)))
        expect(after.every((found) => found === null)).toBe(true)
      })

      it('loses no delete, update or rotation to uses of the same tokens written at the same time', async () => {
        const gone = await store.insert(record())
        const narrowed = await store.insert(record({ abilities: ['read', 'delete'] }))
        const retired = await store.insert(record())
        const retireAt = at('2026-06-01T13:00:00.000Z')
        const touch = (i: number) =>
          store.touch(
            new Map([gone, narrowed, retired].map((t) => [t.id, new Date(base.getTime() + i * 1_000)])),
          )
        await Promise.all([
          ...Array.from({ length: 25 }, (_, i) => touch(i)),
          store.delete(alice, gone.id),
          store.update(alice, narrowed.id, { abilities: ['read'], updatedAt: base }),
          store.rotate(alice, retired.id, record(), retireAt),
          ...Array.from({ length: 25 }, (_, i) => touch(25 + i)),
        ])
        expect(await store.findById(gone.id)).toBeNull()
        expect(await store.findByHash(gone.tokenHash)).toBeNull()
        expect((await store.findById(narrowed.id))?.abilities).toEqual(['read'])
        expect((await store.findByHash(narrowed.tokenHash))?.abilities).toEqual(['read'])
        expect((await store.findById(retired.id))?.expiresAt).toEqual(retireAt)
      })

      it('lets only one of two parallel rotations of a token succeed, when the old one goes at once', async () => {
        const old = await store.insert(record())
        const results = await Promise.all([
          store.rotate(alice, old.id, record(), null),
          store.rotate(alice, old.id, record(), null),
        ])
        const made = results.filter((next) => next !== null)
        expect(made).toHaveLength(1)
        expect((await store.listByOwner(alice)).map((t) => t.id)).toEqual([made[0]?.id])
      })

      it('never lets a rotation and a narrowing of the same token both succeed, so no successor keeps what was taken away', async () => {
        for (let round = 0; round < 10; round++) {
          const old = await store.insert(record({ abilities: ['read', 'delete'] }))
          const [narrowed, next] = await Promise.all([
            store.update(alice, old.id, { abilities: ['read'], updatedAt: base }),
            store.rotate(alice, old.id, record({ abilities: ['read', 'delete'] }), null),
          ])
          // Whichever went first won; the other found the token gone, or no longer the one it copies.
          expect(
            [narrowed, next].filter((done) => done !== null),
            `round ${round}`,
          ).toHaveLength(1)
          const left = await store.listByOwner(alice)
          expect(left.map((token) => token.abilities)).toEqual([narrowed ? ['read'] : ['read', 'delete']])
          await store.deleteByOwner(alice)
        }
      })

      it('leaves the owner no token once deleteByOwner beside a rotation of one of them is done', async () => {
        for (let round = 0; round < 20; round++) {
          // Every other round the rotated token is the owner's only one, so nothing else is there to delete.
          const others = round % 2 ? [] : await Promise.all([store.insert(record()), store.insert(record())])
          const old = await store.insert(record())
          const [next, deleted] = await Promise.all([
            store.rotate(alice, old.id, record(), null),
            store.deleteByOwner(alice),
          ])
          // Either order is fine: the rotation found the token deleted, or its successor was deleted too.
          expect(await store.listByOwner(alice), `round ${round}`).toEqual([])
          expect(deleted).toEqual(expect.arrayContaining(others.map((t) => t.id)))
          if (next) expect(deleted).toContain(next.id)
        }
      })

      it('keeps every update of parallel updates to different tokens', async () => {
        const tokens = await Promise.all(Array.from({ length: 20 }, () => store.insert(record())))
        await Promise.all(
          tokens.map((t, i) => store.update(alice, t.id, { name: `renamed ${i}`, updatedAt: base })),
        )
        const names = (await store.listByOwner(alice)).map((t) => t.name).sort()
        expect(names).toEqual(tokens.map((_, i) => `renamed ${i}`).sort())
      })
    })

    describe('watch', () => {
      it('says when it delivers, reports each change and delete by id (rotations and bulk deletes too) made by another instance, and stops delivering when stopped', async (context) => {
        const watch = store.watch?.bind(store)
        if (!watch) {
          context.skip('no `watch`: the service runs no verification cache on this store')
          return
        }
        if (!options.peer) {
          throw new Error(
            'A store with `watch` needs `peer` in the options of testTokenStore: `watch` must report changes made by other instances, and only another store on the same data can make them.',
          )
        }
        const changed: string[] = []
        const delivering: boolean[] = []
        const refused: Error[] = []
        // A cache trusts nothing until the store says it listens; a refusal fails the check at once, with its reason.
        let live: () => void = () => {}
        let fail: (error: Error) => void = () => {}
        const listening = new Promise<void>((resolve, reject) => {
          live = resolve
          fail = reject
        })
        const stop = watch({
          changed: (ids) => changed.push(...(ids ?? ['*'])),
          delivering: (on) => {
            delivering.push(on)
            if (on) live()
          },
          refused: (error) => {
            refused.push(error)
            fail(new Error(`\`watch\` refused to deliver: ${error.message}`, { cause: error }))
          },
        })
        let timer: ReturnType<typeof setTimeout> | undefined
        try {
          await Promise.race([
            listening,
            new Promise((_, reject) => {
              timer = setTimeout(
                () => reject(new Error('`watch` did not call delivering(true) within 10 s')),
                10_000,
              )
            }),
          ])
          // Every way a token changes or goes, made by another instance: each must reach this store's listener, by id.
          const writer = await options.peer(store)
          const kept = await writer.insert(record())
          const gone = await writer.insert(record())
          const rotated = await writer.insert(record())
          const bobs = await writer.insert(record({ owner: { ...bob } }))
          const expired = await writer.insert(record({ expiresAt: at('2026-05-01T00:00:00.000Z') }))
          const retired = await writer.insert(record())
          const rehashed = await writer.insert(record())
          await writer.update(alice, kept.id, { abilities: ['write'], updatedAt: base })
          await writer.delete(alice, gone.id)
          await writer.rotate(alice, rotated.id, record(), null)
          // The old token stays, with an end: a cache must drop what it holds of it.
          await writer.rotate(alice, retired.id, record(), at('2026-06-01T13:00:00.000Z'))
          await writer.update(alice, rehashed.id, { tokenHash: randomHash(), updatedAt: base })
          await writer.deleteByOwner(bob)
          await writer.deleteExpired({ expiredBefore: base })
          await vi.waitFor(
            () => {
              for (const token of [kept, gone, rotated, bobs, expired, retired, rehashed]) {
                expect(changed).toContain(token.id)
              }
            },
            { timeout: 5_000 },
          )
          expect(refused).toEqual([])
        } finally {
          clearTimeout(timer)
          await stop()
        }
        expect(delivering.at(-1)).toBe(false)
      })
    })

    describe('behind the token service', () => {
      it('refuses a plain text whose id is another spelling of a real one, before asking the store', async () => {
        const tokens = createTokens({ store, lastUsed: false })
        const { token, plainTextToken } = await tokens.create('42', 'canonical', ['read'])
        const secret = plainTextToken.slice(plainTextToken.indexOf('|') + 1)
        const forms = [
          `0${token.id}`,
          `-${token.id}`,
          `+${token.id}`,
          ` ${token.id}`,
          `${token.id}0`.padStart(21, '9'),
        ]
        for (const form of forms) expect(await tokens.authenticate(`${form}|${secret}`), form).toBeNull()
        expect((await tokens.authenticate(plainTextToken))?.id).toBe(token.id)
      })

      it('creates, authenticates, updates and revokes tokens', async () => {
        const tokens = createTokens({ store, lastUsed: { flushDelay: 0 } })
        const { token, plainTextToken } = await tokens.create('42', 'service round trip', ['read'])
        expect((await tokens.authenticate(plainTextToken))?.id).toBe(token.id)
        expect((await tokens.authenticate(plainTextToken.slice(plainTextToken.indexOf('|') + 1)))?.id).toBe(
          token.id,
        )
        await tokens.close()
        expect((await store.findById(token.id))?.lastUsedAt).toBeInstanceOf(Date)
        expect((await tokens.update('42', token.id, { abilities: ['write'] }))?.abilities).toEqual(['write'])
        expect((await tokens.list('42')).map((t) => t.id)).toEqual([token.id])
        expect(await tokens.revoke('42', token.id)).toBe(true)
        expect(await tokens.authenticate(plainTextToken)).toBeNull()
      })

      it('rotates a token: the old secret works through the grace period and not after', async () => {
        let now = Date.now()
        const tokens = createTokens({ store, lastUsed: false, now: () => new Date(now) })
        const old = await tokens.create('42', 'rotated', ['read', 'update'])
        const next = await tokens.rotate('42', old.token.id, { grace: 5 })
        expect(next?.token).toMatchObject({ name: 'rotated', abilities: ['read', 'update'], expiresAt: null })
        expect((await tokens.authenticate(old.plainTextToken))?.id).toBe(old.token.id)
        expect((await tokens.authenticate(next?.plainTextToken ?? ''))?.id).toBe(next?.token.id)
        now += 5 * 60_000
        expect(await tokens.authenticate(old.plainTextToken)).toBeNull()
        expect((await tokens.authenticate(next?.plainTextToken ?? ''))?.id).toBe(next?.token.id)
        const last = await tokens.rotate('42', next?.token.id ?? '')
        expect(await tokens.authenticate(next?.plainTextToken ?? '')).toBeNull()
        expect((await tokens.authenticate(last?.plainTextToken ?? ''))?.id).toBe(last?.token.id)
        expect(await tokens.rotate('7', last?.token.id ?? '')).toBeNull()
      })

      it('refuses a token left idle past idleTimeout, and keeps one in steady use', async () => {
        let now = Date.now()
        const tokens = createTokens({
          store,
          idleTimeout: 10,
          lastUsed: { interval: 60_000, flushDelay: 0 },
          now: () => new Date(now),
        })
        const steady = await tokens.create('42', 'steady', ['read'])
        const idle = await tokens.create('42', 'idle', ['read'])
        for (let minute = 0; minute < 30; minute += 9) {
          expect(await tokens.authenticate(steady.plainTextToken), `minute ${minute}`).not.toBeNull()
          await tokens.close() // writes the use, as a later flush would
          now += 9 * 60_000
        }
        expect(await tokens.authenticate(idle.plainTextToken)).toBeNull()
        expect(await tokens.authenticate(steady.plainTextToken)).not.toBeNull()
      })

      it('moves a token to the current hash key on its first use, and keeps authenticating it', async () => {
        const oldKey = 'o'.repeat(32)
        const newKey = 'n'.repeat(32)
        const before = createTokens({ store, lastUsed: false, hashKey: oldKey })
        const { token, plainTextToken } = await before.create('42', 'peppered', ['read'])
        const stored = (await store.findById(token.id))?.tokenHash
        const after = createTokens({ store, lastUsed: false, hashKey: newKey, previousHashKeys: [oldKey] })
        expect((await after.authenticate(plainTextToken))?.id).toBe(token.id)
        await vi.waitFor(async () => expect((await store.findById(token.id))?.tokenHash).not.toBe(stored), {
          timeout: 5_000,
        })
        expect(await before.authenticate(plainTextToken)).toBeNull()
        expect((await after.authenticate(plainTextToken))?.id).toBe(token.id)
        const unkeyed = createTokens({ store, lastUsed: false })
        expect(await unkeyed.authenticate(plainTextToken)).toBeNull()
      })
    })
  })
}

// A stand-in for sha256(secret): 64 random lowercase hex digits.
function randomHash(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(32)), (byte) =>
    byte.toString(16).padStart(2, '0'),
  ).join('')
}
