import { randomBytes } from 'node:crypto'
import { createServer, type Socket } from 'node:net'
import { testTokenStore } from '@jetstream/testing'
import {
  createTokens,
  MemoryTokenStore,
  MisconfigurationError,
  type NewTokenRecord,
  StorageUnavailableError,
  type TokenOwner,
} from '@jetstream/tokens'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RedisTokenStore } from './redis-token-store.js'

// The real Redis. Every store below gets its own prefix under one that is unique to this run (process id and
// random bytes), so parallel runs and other programs using the same Redis never see each other's keys.
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const runPrefix = `test:custom-store:${process.pid}:${randomBytes(6).toString('hex')}:`

// Is Redis there? Asked once, with a short timeout: without it the real-Redis suites are skipped with one line,
// except in CI, where a missing Redis fails the run.
async function redisAnswers(): Promise<boolean> {
  const probe = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1_000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  })
  probe.on('error', () => {})
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}
const hasRedis = await redisAnswers()
if (!hasRedis && process.env.CI)
  throw new Error(`CI must test the Redis store: no Redis answers at ${url} (.ci/run starts one).`)
if (!hasRedis) {
  console.warn(
    `skipped: the RedisTokenStore suites on a real Redis; start Redis at ${url} (or set REDIS_URL) to run them`,
  )
}

function connect(): Redis {
  // Fail fast rather than queue for ever when Redis is missing.
  return new Redis(url, { maxRetriesPerRequest: 1, connectTimeout: 2_000 })
}

// Which client each store was built on, so `close` can quit it.
const clients = new WeakMap<RedisTokenStore, Redis>()

const alice: TokenOwner = { type: 'user', id: '42' }
const base = new Date('2026-06-01T12:00:00.000Z')

function record(overrides: Partial<NewTokenRecord> = {}): NewTokenRecord {
  return {
    owner: alice,
    name: 'CLI',
    abilities: ['read'],
    tokenHash: randomBytes(32).toString('hex'),
    expiresAt: null,
    createdAt: base,
    updatedAt: base,
    ...overrides,
  }
}

describe.runIf(hasRedis)('with a real Redis', () => {
  testTokenStore('RedisTokenStore', {
    create: () => {
      const redis = connect()
      const store = new RedisTokenStore(redis, { prefix: `${runPrefix}suite:` })
      clients.set(store, redis)
      return store
    },
    reset: async (store) => {
      await store.clear()
    },
    close: async (store) => {
      await store.clear()
      await clients.get(store)?.quit()
    },
  })

  describe('RedisTokenStore on a real Redis', () => {
    let redis: Redis
    let store: RedisTokenStore
    const prefix = `${runPrefix}own:`

    async function keys(of: string): Promise<string[]> {
      const found: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${of}*`, 'COUNT', 1000)
        found.push(...batch)
        cursor = next
      } while (cursor !== '0')
      return found.map((key) => key.slice(of.length)).sort()
    }

    beforeAll(() => {
      redis = connect()
      store = new RedisTokenStore(redis, { prefix })
    })
    beforeEach(async () => {
      await store.clear()
    })
    afterAll(async () => {
      await store.clear()
      await redis.quit()
    })

    describe('key layout', () => {
      it('keeps each token in the keys the file comment describes', async () => {
        const owner = { type: 'App\\Models\\User', id: 'o:"🔑' }
        const expiresAt = new Date('2027-01-01T00:00:00.123Z')
        const stored = await store.insert(record({ owner, abilities: ['read', 'écrire'], expiresAt }))
        await store.touch(new Map([[stored.id, new Date('2026-06-02T00:00:00.000Z')]]))
        const ownerKey = 'owner:15:App\\Models\\User:o:"🔑' // 15: the bytes of the type
        expect(await keys(prefix)).toEqual(
          [
            'created',
            'expires',
            `hash:${stored.tokenHash}`,
            'next-id',
            ownerKey,
            `token:${stored.id}`,
          ].sort(),
        )
        expect(await redis.hgetall(`${prefix}token:${stored.id}`)).toEqual({
          ownerType: 'App\\Models\\User',
          ownerId: 'o:"🔑',
          name: 'CLI',
          abilities: '["read","écrire"]',
          tokenHash: stored.tokenHash,
          createdAt: String(base.getTime()),
          updatedAt: String(base.getTime()),
          expiresAt: String(expiresAt.getTime()),
          lastUsedAt: String(Date.parse('2026-06-02T00:00:00.000Z')),
        })
        expect(await redis.get(`${prefix}hash:${stored.tokenHash}`)).toBe(stored.id)
        expect(await redis.get(`${prefix}next-id`)).toBe(stored.id)
        expect(await redis.zrange(`${prefix}${ownerKey}`, 0, -1, 'WITHSCORES')).toEqual([
          stored.id.padStart(19, '0'),
          String(base.getTime()),
        ])
        expect(await redis.zscore(`${prefix}created`, stored.id)).toBe(String(base.getTime()))
        expect(await redis.zscore(`${prefix}expires`, stored.id)).toBe(String(expiresAt.getTime()))
      })

      it('leaves only the id counter once every token is deleted, whichever method deleted it', async () => {
        const owner = { type: 'team', id: 'a:b' }
        const one = await store.insert(record({ owner }))
        await store.insert(record({ owner }))
        await store.insert(record({ expiresAt: new Date('2026-01-01T00:00:00Z') }))
        await store.insert(record({ createdAt: new Date('2020-01-01T00:00:00Z') }))
        const last = await store.insert(record())
        expect(await store.delete(owner, one.id)).toBe(true)
        expect(await store.deleteByOwner(owner)).toHaveLength(1)
        expect(
          await store.deleteExpired({
            expiredBefore: new Date('2026-03-01T00:00:00Z'),
            createdBefore: new Date('2021-01-01T00:00:00Z'),
          }),
        ).toBe(2)
        expect(await store.delete(alice, last.id)).toBe(true)
        expect(await keys(prefix)).toEqual(['next-id'])
      })

      it('keeps owners apart whose type and id join into the same text', async () => {
        const ab = await store.insert(record({ owner: { type: 'a:b', id: 'c' } }))
        const bc = await store.insert(record({ owner: { type: 'a', id: 'b:c' } }))
        expect((await store.listByOwner({ type: 'a:b', id: 'c' })).map((t) => t.id)).toEqual([ab.id])
        expect((await store.listByOwner({ type: 'a', id: 'b:c' })).map((t) => t.id)).toEqual([bc.id])
        expect(await store.delete({ type: 'a', id: 'b:c' }, ab.id)).toBe(false)
      })

      it('orders ties by id as numbers, not as text (10 after 9)', async () => {
        const inserted = []
        for (let i = 0; i < 11; i++) inserted.push(await store.insert(record()))
        const listed = (await store.listByOwner(alice)).map((t) => t.id)
        expect(listed).toEqual(inserted.map((t) => t.id).reverse())
      })

      it("does not let a store with another prefix see or clear this store's tokens", async () => {
        const otherPrefix = `${runPrefix}other:`
        const other = new RedisTokenStore(redis, { prefix: otherPrefix })
        try {
          const mine = await store.insert(record())
          const theirs = await other.insert(record())
          // Both counters start at 1: the same id names a different token in each store.
          expect(theirs.id).toBe(mine.id)
          expect((await other.findById(mine.id))?.tokenHash).toBe(theirs.tokenHash)
          expect(await other.findByHash(mine.tokenHash)).toBeNull()
          expect(await store.findByHash(theirs.tokenHash)).toBeNull()
          expect(await other.listByOwner(alice)).toHaveLength(1)
          expect(await other.delete(alice, '999')).toBe(false)
          expect(
            await other.deleteExpired({ expiredBefore: new Date('2100-01-01'), createdBefore: base }),
          ).toBe(0)
          await other.clear()
          expect(await store.findById(mine.id)).toEqual(mine)
          expect(await keys(otherPrefix)).toEqual([])
        } finally {
          await other.clear()
        }
      })
    })

    describe('atomicity', () => {
      it('never brings back a token when touches race with its delete', async () => {
        const token = await store.insert(record())
        const touches = (n: number) =>
          Array.from({ length: n }, (_, i) =>
            store.touch(new Map([[token.id, new Date(base.getTime() + i)]])),
          )
        await Promise.all([...touches(50), store.delete(alice, token.id), ...touches(50)])
        expect(await store.findById(token.id)).toBeNull()
        expect(await redis.exists(`${prefix}token:${token.id}`)).toBe(0)
      })

      it('keeps the latest lastUsedAt whatever order parallel touches arrive in', async () => {
        const token = await store.insert(record())
        const times = Array.from({ length: 40 }, (_, i) => new Date(base.getTime() + ((i * 17) % 40) * 1_000))
        await Promise.all(times.map((at) => store.touch(new Map([[token.id, at]]))))
        expect((await store.findById(token.id))?.lastUsedAt).toEqual(new Date(base.getTime() + 39_000))
      })
    })

    describe('behind the token service', () => {
      it('creates, authenticates, revokes, then authenticates no more', async () => {
        const tokens = createTokens({ store, lastUsed: false })
        const { token, plainTextToken } = await tokens.create('42', 'deploy', ['read'])
        expect(plainTextToken.startsWith(`${token.id}|`)).toBe(true)
        const found = await tokens.authenticate(plainTextToken)
        expect(found?.id).toBe(token.id)
        expect(found?.can('read')).toBe(true)
        expect(await tokens.revoke('42', token.id)).toBe(true)
        expect(await tokens.authenticate(plainTextToken)).toBeNull()
        await tokens.close()
      })
    })

    describe('options', () => {
      it('refuses an empty prefix (clear() would empty the whole database) and a bad timeout', () => {
        expect(() => new RedisTokenStore(redis, { prefix: '' })).toThrow(MisconfigurationError)
        expect(() => new RedisTokenStore(redis, { timeout: 0 })).toThrow(MisconfigurationError)
        expect(() => new RedisTokenStore(redis, { timeout: Number.NaN })).toThrow(MisconfigurationError)
      })
    })
  })
})

describe('a Redis that is down', () => {
  let down: Redis
  let store: RedisTokenStore
  beforeAll(() => {
    // Nothing listens on port 1. Without an offline queue ioredis rejects at once instead of waiting.
    down = new Redis({
      host: '127.0.0.1',
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    })
    down.on('error', () => {}) // connection errors reach the callers; keep them out of the test log
    store = new RedisTokenStore(down, { prefix: `${runPrefix}down:` })
  })
  afterAll(() => {
    down.disconnect()
  })

  it('rejects findById with StorageUnavailableError keeping the cause, never null', async () => {
    const error = await store.findById('1').then(
      (found) => ({ resolved: found }),
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(StorageUnavailableError)
    expect((error as StorageUnavailableError).status).toBe(503)
    expect((error as Error).cause).toBeInstanceOf(Error)
  })

  it('rejects every other method the same way', async () => {
    const calls: [string, () => Promise<unknown>][] = [
      ['insert', () => store.insert(record())],
      ['findByHash', () => store.findByHash('0'.repeat(64))],
      ['listByOwner', () => store.listByOwner(alice)],
      ['update', () => store.update(alice, '1', { name: 'x', updatedAt: base })],
      ['delete', () => store.delete(alice, '1')],
      ['deleteByOwner', () => store.deleteByOwner(alice)],
      ['touch', () => store.touch(new Map([['1', base]]))],
      ['deleteExpired', () => store.deleteExpired({ expiredBefore: base })],
      ['clear', () => store.clear()],
    ]
    for (const [name, call] of calls) {
      await expect(call(), name).rejects.toBeInstanceOf(StorageUnavailableError)
    }
  })

  it('makes the token service answer 503, not "no such token"', async () => {
    // A plain text must be well formed (checksum included) to reach the store: any store can issue one.
    const { plainTextToken } = await createTokens({ store: new MemoryTokenStore() }).create('42', 'x')

    const tokens = createTokens({ store, lastUsed: false })
    const error = await tokens.authenticate(plainTextToken).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageUnavailableError)
    expect(String(error)).not.toContain(plainTextToken.split('|')[1])
    // A malformed plain text never reaches the store, so it is refused without an outage.
    expect(await tokens.authenticate(`1|${'a'.repeat(40)}`)).toBeNull()
  })
})

describe('a Redis that stops answering', () => {
  const sockets = new Set<Socket>()
  // Accepts connections and never replies: the case a timeout exists for.
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  let hung: Redis
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    if (address === null || typeof address === 'string') throw new Error('The server has no port.')
    hung = new Redis({ host: '127.0.0.1', port: address.port, retryStrategy: () => null })
    hung.on('error', () => {})
  })
  afterAll(async () => {
    hung.disconnect()
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('rejects with StorageUnavailableError once the timeout passes', async () => {
    const store = new RedisTokenStore(hung, { prefix: `${runPrefix}hung:`, timeout: 200 })
    const started = Date.now()
    const error = await store.findById('1').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(StorageUnavailableError)
    expect((error as Error).message).toBe('Redis did not answer "findById" within 200 ms.')
    expect(Date.now() - started).toBeLessThan(2_000)
  })
})
