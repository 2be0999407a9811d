import { describe, expect, it } from 'vitest'
import { MisconfigurationError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { PermissionRegistry } from './permission-registry.js'
import { createTokens } from './token-service.js'
import type { TokenChangeListener } from './token-store.js'

const permissions = new PermissionRegistry({ permissions: ['read', 'update'], defaults: ['read'] })

/** A memory store that counts lookups and, when asked, reports changes like a database would. */
class WatchedStore extends MemoryTokenStore {
  lookups = 0
  listener: TokenChangeListener | null = null
  unwatched = false
  override findById(id: string) {
    this.lookups++
    return super.findById(id)
  }
  override watch(listener: TokenChangeListener): () => Promise<void> {
    this.listener = listener
    return async () => {
      this.unwatched = true
    }
  }
}

function setup(options: { watch?: boolean; maxEntries?: number } = {}) {
  const store = options.watch ? new WatchedStore() : new MemoryTokenStore()
  const counting = store as WatchedStore
  if (!options.watch) {
    counting.lookups = 0
    const find = store.findById.bind(store)
    store.findById = (id) => {
      counting.lookups++
      return find(id)
    }
  }
  const tokens = createTokens({
    store,
    permissions,
    lastUsed: false,
    cache: options.maxEntries ? { maxEntries: options.maxEntries } : true,
  })
  return { store: counting, tokens }
}

describe('the verification cache in the token service', () => {
  it('answers repeated requests without the store, still hashing and comparing each time', async () => {
    const { store, tokens } = setup()
    const { plainTextToken } = await tokens.create('42', 'x')
    for (let i = 0; i < 5; i++) expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    expect(store.lookups).toBe(1)
    const wrong = `${plainTextToken.split('|')[0]}|${(await tokens.create('42', 'y')).plainTextToken.split('|')[1]}`
    expect(await tokens.authenticate(wrong)).toBeNull()
    expect(store.lookups).toBe(1)
  })

  it('hands each request times of its own: changing one cannot move the cached expiry', async () => {
    const { store, tokens } = setup()
    const expiresAt = new Date(Date.now() + 60_000)
    const { plainTextToken } = await tokens.create('42', 'x', undefined, { expiresAt })
    const first = await tokens.authenticate(plainTextToken)
    first?.expiresAt?.setTime(Date.now() + 365 * 86_400_000)
    first?.createdAt.setTime(0)
    const second = await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(1)
    expect(second?.expiresAt).toEqual(expiresAt)
    expect(second?.createdAt.getTime()).not.toBe(0)
  })

  it('still refuses a cached token once it expires', async () => {
    let now = Date.parse('2026-06-01T00:00:00Z')
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      cache: true,
      lastUsed: false,
      now: () => new Date(now),
    })
    const { plainTextToken } = await tokens.create('42', 'x', undefined, { expiresAt: new Date(now + 1_000) })
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    now += 1_000
    expect(await tokens.authenticate(plainTextToken)).toBeNull()
  })

  it('drops entries on revoke, revokeAll and update before they resolve', async () => {
    const { tokens } = setup()
    const a = await tokens.create('42', 'a', ['read'])
    const b = await tokens.create('42', 'b', ['read'])
    const c = await tokens.create('42', 'c', ['read'])
    for (const t of [a, b, c]) await tokens.authenticate(t.plainTextToken)

    await tokens.update('42', a.token.id, { abilities: ['update'] })
    expect((await tokens.authenticate(a.plainTextToken))?.abilities).toEqual(['update'])
    await tokens.revoke('42', b.token.id)
    expect(await tokens.authenticate(b.plainTextToken)).toBeNull()
    await tokens.revokeAll('42')
    expect(await tokens.authenticate(c.plainTextToken)).toBeNull()
  })

  it('drops entries when a change fails, since it may still have been made (a statement past its deadline)', async () => {
    const { store, tokens } = setup()
    const made = await Promise.all(['a', 'b', 'c', 'd'].map((name) => tokens.create('42', name, ['read'])))
    for (const t of made) await tokens.authenticate(t.plainTextToken)
    // Each change is made, then its call fails, as a deadline that passed while the database committed.
    const committedThenFailed =
      <A extends unknown[], T>(change: (...args: A) => Promise<T>) =>
      async (...args: A): Promise<T> => {
        await change(...args)
        throw new Error('deadline passed')
      }
    store.update = committedThenFailed(store.update.bind(store))
    store.delete = committedThenFailed(store.delete.bind(store))
    store.rotate = committedThenFailed(store.rotate.bind(store))
    store.deleteByOwner = committedThenFailed(store.deleteByOwner.bind(store))
    const [a, b, c, d] = made as [(typeof made)[0], (typeof made)[0], (typeof made)[0], (typeof made)[0]]
    await expect(tokens.update('42', a.token.id, { abilities: ['update'] })).rejects.toThrow()
    await expect(tokens.revoke('42', b.token.id)).rejects.toThrow()
    await expect(tokens.rotate('42', c.token.id)).rejects.toThrow()
    expect((await tokens.authenticate(a.plainTextToken))?.abilities).toEqual(['update'])
    expect(await tokens.authenticate(b.plainTextToken)).toBeNull()
    expect(await tokens.authenticate(c.plainTextToken)).toBeNull()
    expect(await tokens.authenticate(d.plainTextToken)).not.toBeNull()
    await expect(tokens.revokeAll('42')).rejects.toThrow()
    expect(await tokens.authenticate(d.plainTextToken)).toBeNull()
  })

  it('does not keep a record that was revoked while its lookup was in flight', async () => {
    const { store, tokens } = setup()
    const { token, plainTextToken } = await tokens.create('42', 'x')
    let release: () => void = () => {}
    const find = store.findById.bind(store)
    store.findById = (id) =>
      Promise.resolve(find(id)).then((found) => new Promise((resolve) => (release = () => resolve(found))))
    const inFlight = tokens.authenticate(plainTextToken)
    await tokens.revoke('42', token.id)
    release()
    await inFlight // it read the row before the delete; fine, but it must not be cached
    store.findById = find
    expect(await tokens.authenticate(plainTextToken)).toBeNull()
  })

  it('is not filled by unknown ids or wrong secrets, so an attacker cannot evict real entries', async () => {
    const { store, tokens } = setup({ maxEntries: 2 })
    const real = await tokens.create('42', 'real')
    await tokens.authenticate(real.plainTextToken)
    const secret = real.plainTextToken.split('|')[1] as string
    const other = (await tokens.create('42', 'other')).plainTextToken.split('|')[1] as string
    for (let id = 100; id < 200; id++) await tokens.authenticate(`${id}|${secret}`) // unknown ids
    for (let i = 0; i < 50; i++) await tokens.authenticate(`${real.token.id}|${other}`) // wrong secret
    const before = store.lookups
    expect(await tokens.authenticate(real.plainTextToken)).not.toBeNull()
    expect(store.lookups).toBe(before) // still a hit
  })

  it('follows the store’s change feed: invalidations, and no trust while it is down', async () => {
    const { store, tokens } = setup({ watch: true })
    const { token, plainTextToken } = await tokens.create('42', 'x')
    const feed = store.listener as TokenChangeListener

    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(2) // not trusted until the store says it is listening

    feed.delivering(true)
    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(3)

    feed.changed([token.id]) // changed by another instance
    await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(4)

    feed.delivering(false) // the listening connection dropped
    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(6)

    feed.delivering(true)
    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(7)
    feed.changed(null) // e.g. the table was truncated
    await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(8)

    await tokens.close()
    expect(store.unwatched).toBe(true)
  })

  it('hears what another service on the same memory store revokes, before that revoke resolves', async () => {
    const { store, tokens } = setup()
    const other = createTokens({ store, permissions, lastUsed: false, cache: true })
    const { token, plainTextToken } = await tokens.create('42', 'shared')
    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)
    expect(store.lookups).toBe(1)
    await other.revoke('42', token.id)
    expect(await tokens.authenticate(plainTextToken)).toBeNull()
  })

  it('stays off, and says so once, over a store that cannot report changes made elsewhere', async () => {
    const memory = new MemoryTokenStore()
    let lookups = 0
    // A store of the contract's required methods only: no `watch`, as a custom driver may be.
    const store = {
      insert: (token: Parameters<MemoryTokenStore['insert']>[0]) => memory.insert(token),
      findById: (id: string) => {
        lookups++
        return memory.findById(id)
      },
      findByHash: (hash: string) => memory.findByHash(hash),
      listByOwner: memory.listByOwner.bind(memory),
      update: memory.update.bind(memory),
      rotate: memory.rotate.bind(memory),
      delete: memory.delete.bind(memory),
      deleteByOwner: memory.deleteByOwner.bind(memory),
      touch: memory.touch.bind(memory),
      deleteExpired: memory.deleteExpired.bind(memory),
    }
    const errors: unknown[] = []
    const tokens = createTokens({
      store,
      lastUsed: false,
      cache: true,
      on: { error: (e) => void errors.push(e) },
    })
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(MisconfigurationError)
    expect((errors[0] as Error).message).toMatch(/has no `watch`/)
    const { plainTextToken } = await tokens.create('42', 'x')
    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)
    expect(lookups).toBe(2)
    expect(errors).toHaveLength(1)
    // Without `cache`, nothing is missing and nothing is said.
    createTokens({ store, lastUsed: false, on: { error: (e) => void errors.push(e) } })
    expect(errors).toHaveLength(1)
  })

  it('refuses bad bounds when the service is built', () => {
    expect(() => createTokens({ store: new MemoryTokenStore(), cache: { ttl: 0 } })).toThrow(/cache.ttl/)
    expect(() => createTokens({ store: new MemoryTokenStore(), cache: { maxEntries: -1 } })).toThrow(
      /cache.maxEntries/,
    )
  })
})
