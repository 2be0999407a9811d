/*
 * A TokenStore on Redis, written from scratch against the public contract of `@jetstream/tokens`.
 *
 * Key layout. Every key starts with the store's prefix (`tokens:` by default), so several stores can share one
 * Redis as long as no prefix is the beginning of another:
 *
 *   {prefix}next-id                 string  the id counter (INCR): ids are 1, 2, 3… and never given twice.
 *   {prefix}token:{id}              hash    ownerType, ownerId, name, abilities (a JSON array), tokenHash,
 *                                           createdAt, updatedAt, lastUsedAt, expiresAt, metadata (JSON). Times
 *                                           are epoch milliseconds; an absent lastUsedAt or expiresAt field
 *                                           means null, an absent metadata none.
 *   {prefix}hash:{tokenHash}        string  the id: `findByHash` in one lookup, and what keeps hashes unique.
 *   {prefix}owner:{n}:{type}:{id}   zset    the owner's ids scored by createdAt. {n} is the byte length of the
 *                                           type, so owners `a:b`/`c` and `a`/`b:c` get different keys. Members
 *                                           are ids zero-padded to 19 digits so that equal scores order by id
 *                                           (10 after 9): ZREVRANGE gives newest first as `listByOwner` wants.
 *   {prefix}created                 zset    every id scored by createdAt, for `deleteExpired({ createdBefore })`.
 *   {prefix}expires                 zset    ids that have an expiresAt, scored by it, for `deleteExpired`.
 *
 * Atomicity. Every method that writes (all but `clear`, a test helper) is one Lua script, registered with
 * `redis.defineCommand` so that ioredis sends it once and then calls it by its SHA1. Redis runs a script to the
 * end before it runs any other command, so no client ever sees half a token (a hash without its `hash:` key, an
 * index entry without its hash), and a check cannot be separated from the write it guards: the hash is still
 * free when the insert takes it, the owner is still the owner when the update writes, the token still exists
 * when `touch` sets lastUsedAt. MULTI is not enough for any of these: a transaction cannot read a value and
 * decide what to write from it (WATCH can only make it fail and retry). A script is not rolled back when it
 * fails half-way, so each one makes all its checks before its first write.
 *
 * Reads need no transaction: `findById` is one HGETALL. `findByHash` and `listByOwner` are read-only scripts,
 * for one round trip instead of two and a consistent view of the index and the hashes.
 *
 * Redis Cluster: a script must keep to one hash slot. Some scripts find the keys they touch as they run (the new
 * id in `insert`, an owner's ids in `deleteByOwner`), so on a cluster give the prefix a hash tag, e.g.
 * `{tokens}:`, which puts all of the store's keys in one slot.
 */
import {
  type ExpiredTokenCriteria,
  MisconfigurationError,
  type NewTokenRecord,
  StorageUnavailableError,
  type TokenChanges,
  type TokenOwner,
  type TokenRecord,
  type TokenStore,
} from '@jetstream/tokens'
import type { Redis } from 'ioredis'

/**
 * Options of {@link RedisTokenStore}.
 *
 * @example
 * ```ts
 * const options: RedisTokenStoreOptions = { prefix: 'acme:tokens:', timeout: 2_000 }
 * ```
 */
export interface RedisTokenStoreOptions {
  /** Put before every key. Default `tokens:`. Must not be empty, and must not begin another store's prefix. */
  readonly prefix?: string
  /**
   * Milliseconds a call may take before it rejects with `StorageUnavailableError`, so a Redis that stops
   * answering costs a 503 rather than a hung request. Default 5000.
   */
  readonly timeout?: number
}

/**
 * A {@link TokenStore} on Redis through ioredis. Give it your client; the store never connects, quits or
 * reconfigures it. See the comment at the top of this file for the key layout.
 *
 * @example
 * ```ts
 * import { createTokens } from '@jetstream/tokens'
 * import { Redis } from 'ioredis'
 *
 * const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1 })
 * const tokens = createTokens({ store: new RedisTokenStore(redis, { prefix: 'myapp:tokens:' }) })
 * ```
 */
export class RedisTokenStore implements TokenStore {
  readonly #redis: Redis
  readonly #prefix: string
  readonly #timeout: number
  readonly #insert: Script
  readonly #findByHash: Script
  readonly #listByOwner: Script
  readonly #update: Script
  readonly #rotate: Script
  readonly #delete: Script
  readonly #deleteByOwner: Script
  readonly #touch: Script
  readonly #deleteExpired: Script

  /**
   * @example
   * ```ts
   * const store = new RedisTokenStore(new Redis(), { prefix: 'tokens:' })
   * ```
   */
  constructor(redis: Redis, options: RedisTokenStoreOptions = {}) {
    const prefix = options.prefix ?? 'tokens:'
    const timeout = options.timeout ?? 5_000
    // An empty prefix would let `clear()` delete every key of the database.
    if (prefix === '') throw new MisconfigurationError('The Redis key `prefix` must not be empty.')
    if (!(Number.isFinite(timeout) && timeout > 0)) {
      throw new MisconfigurationError('`timeout` is a number of milliseconds greater than 0.')
    }
    this.#redis = redis
    this.#prefix = prefix
    this.#timeout = timeout
    // The scripts take the prefix as an argument, so every store on one client shares the same definitions
    // (ioredis sends each once, then calls it by its SHA1 with EVALSHA).
    this.#insert = defineScript(redis, 'jetstreamTokensInsert', 5, INSERT)
    this.#findByHash = defineScript(redis, 'jetstreamTokensFindByHash', 1, FIND_BY_HASH)
    this.#listByOwner = defineScript(redis, 'jetstreamTokensListByOwner', 1, LIST_BY_OWNER)
    this.#update = defineScript(redis, 'jetstreamTokensUpdate', 1, UPDATE)
    this.#rotate = defineScript(redis, 'jetstreamTokensRotate', 6, ROTATE)
    this.#delete = defineScript(redis, 'jetstreamTokensDelete', 1, DELETE)
    this.#deleteByOwner = defineScript(redis, 'jetstreamTokensDeleteByOwner', 1, DELETE_BY_OWNER)
    this.#touch = defineScript(redis, 'jetstreamTokensTouch', null, TOUCH)
    this.#deleteExpired = defineScript(redis, 'jetstreamTokensDeleteExpired', 2, DELETE_EXPIRED)
  }

  /**
   * Stores the token in one script: the hash must be new, then the id comes from INCR and the hash, the
   * `hash:` key and the three indexes are written together. Rejects when the hash is already stored.
   *
   * @example
   * ```ts
   * const now = new Date()
   * const { id } = await store.insert({ owner, name: 'CLI', abilities: ['read'], tokenHash, expiresAt: null, createdAt: now, updatedAt: now })
   * ```
   */
  async insert(token: NewTokenRecord): Promise<TokenRecord> {
    const p = this.#prefix
    // Arguments are built before the call, so that a bad argument is not mistaken for an outage.
    const args = this.#insertArgs(token)
    const id = await this.#run('insert', () =>
      this.#insert(args.keys[0], `${p}next-id`, ...args.keys.slice(1), p, ...args.values),
    )
    // The script answers nil (null here) when the hash is taken; that is a refusal, not an outage.
    if (id === null) throw new Error('A token with this hash is already stored.')
    if (typeof id !== 'string') throw malformed('insert')
    return inserted(id, token)
  }

  /**
   * A script: the checks (the owner's token, still with the new one's name and abilities, ending no sooner), the
   * new token's insert
   * and the old one's retirement (deleted, or its expiresAt brought forward) with nothing in between; every check
   * comes before the first write.
   *
   * @example
   * ```ts
   * await store.rotate(owner, '1', newRecord, new Date(Date.now() + 3_600_000))
   * ```
   */
  async rotate(
    owner: TokenOwner,
    id: string,
    token: NewTokenRecord,
    retireAt: Date | null,
  ): Promise<TokenRecord | null> {
    if (!isStoredId(id)) return null
    const p = this.#prefix
    const args = this.#insertArgs(token)
    const retire = retireAt === null ? '' : millis(retireAt)
    const reply = await this.#run('rotate', () =>
      this.#rotate(
        `${p}token:${id}`,
        `${p}next-id`,
        ...args.keys,
        p,
        ...args.values,
        id,
        owner.type,
        owner.id,
        retire,
      ),
    )
    if (reply === 0) return null
    if (reply === null) throw new Error('A token with this hash is already stored.')
    if (typeof reply !== 'string') throw malformed('rotate')
    return inserted(reply, token)
  }

  // KEYS and ARGV of a new token, shared by `insert` and `rotate`.
  #insertArgs(token: NewTokenRecord): { keys: [string, string, string, string]; values: string[] } {
    const p = this.#prefix
    return {
      keys: [`${p}hash:${token.tokenHash}`, this.#ownerKey(token.owner), `${p}created`, `${p}expires`],
      values: [
        token.owner.type,
        token.owner.id,
        token.name,
        JSON.stringify(token.abilities),
        token.tokenHash,
        millis(token.createdAt),
        millis(token.updatedAt),
        token.expiresAt === null ? '' : millis(token.expiresAt),
        token.metadata === undefined ? '' : JSON.stringify(token.metadata),
      ],
    }
  }

  /**
   * One HGETALL. An id this store could never have issued (`abc`, `0`, 26 digits) is null without a round trip.
   *
   * @example
   * ```ts
   * await store.findById('1') // TokenRecord | null
   * ```
   */
  async findById(id: string): Promise<TokenRecord | null> {
    if (!isStoredId(id)) return null
    const fields = await this.#run('findById', () => this.#redis.hgetall(`${this.#prefix}token:${id}`))
    // HGETALL answers {} for a key that does not exist.
    return Object.keys(fields).length === 0 ? null : toRecord(id, fields)
  }

  /**
   * A read-only script: GET `hash:{tokenHash}` then HGETALL its token, in one round trip.
   *
   * @example
   * ```ts
   * await store.findByHash(sha256Hex(secret)) // TokenRecord | null
   * ```
   */
  async findByHash(tokenHash: string): Promise<TokenRecord | null> {
    const reply = await this.#run('findByHash', () =>
      this.#findByHash(`${this.#prefix}hash:${tokenHash}`, this.#prefix),
    )
    if (reply === null) return null
    const found = parseListed(reply)
    if (!found) throw malformed('findByHash')
    return toRecord(found.id, found.fields)
  }

  /**
   * A read-only script: ZREVRANGE of the owner's set, then HGETALL of each token, as one snapshot.
   *
   * @example
   * ```ts
   * await store.listByOwner({ type: 'user', id: '42' }) // newest first
   * ```
   */
  async listByOwner(owner: TokenOwner): Promise<TokenRecord[]> {
    const reply = await this.#run('listByOwner', () => this.#listByOwner(this.#ownerKey(owner), this.#prefix))
    if (!Array.isArray(reply)) throw malformed('listByOwner')
    return reply.map((item: unknown) => {
      const found = parseListed(item)
      if (!found) throw malformed('listByOwner')
      return toRecord(found.id, found.fields)
    })
  }

  /**
   * A script: the owner check and the HSET happen with nothing in between, so a token that changes hands or is
   * deleted meanwhile is never written to (and never recreated as a half hash).
   *
   * @example
   * ```ts
   * await store.update(owner, '1', { abilities: ['read', 'update'], updatedAt: new Date() })
   * ```
   */
  async update(owner: TokenOwner, id: string, changes: TokenChanges): Promise<TokenRecord | null> {
    if (!isStoredId(id)) return null
    const fields: string[] = []
    if (changes.name !== undefined) fields.push('name', changes.name)
    if (changes.abilities !== undefined) fields.push('abilities', JSON.stringify(changes.abilities))
    fields.push('updatedAt', millis(changes.updatedAt))
    const hash = changes.tokenHash ?? ''
    // This store writes abilities as JSON.stringify does, so equal lists are equal text; '' asks for no check.
    const were = changes.abilitiesWere === undefined ? '' : JSON.stringify(changes.abilitiesWere)
    const reply = await this.#run('update', () =>
      this.#update(
        `${this.#prefix}token:${id}`,
        owner.type,
        owner.id,
        this.#prefix,
        id,
        hash,
        were,
        ...fields,
      ),
    )
    if (reply === null) return null
    if (reply === 0) throw new Error('A token with this hash is already stored.')
    const updated = parseFields(reply)
    if (!updated) throw malformed('update')
    return toRecord(id, updated)
  }

  /**
   * A script: checks the owner, then removes the hash, its `hash:` key and its three index entries together.
   *
   * @example
   * ```ts
   * await store.delete(owner, '1') // true when it was the owner's token
   * ```
   */
  async delete(owner: TokenOwner, id: string): Promise<boolean> {
    if (!isStoredId(id)) return false
    const reply = await this.#run('delete', () =>
      this.#delete(`${this.#prefix}token:${id}`, this.#prefix, id, owner.type, owner.id),
    )
    return reply === 1
  }

  /**
   * A script: reads the owner's set and deletes each token but `exceptId`, so a token created while it runs is
   * either deleted or not yet there, never half deleted.
   *
   * @example
   * ```ts
   * await store.deleteByOwner(owner, currentTokenId) // ['2', '5']
   * ```
   */
  async deleteByOwner(owner: TokenOwner, exceptId?: string): Promise<string[]> {
    const reply = await this.#run('deleteByOwner', () =>
      // Ids are never empty, so '' keeps nothing.
      this.#deleteByOwner(this.#ownerKey(owner), this.#prefix, exceptId ?? ''),
    )
    if (!isStringArray(reply)) throw malformed('deleteByOwner')
    return reply
  }

  /**
   * A script over the listed tokens' keys: for each one that still exists, sets `lastUsedAt` to its time of use
   * unless it already holds a later time. A plain HSET would recreate a deleted token as a hash holding only
   * `lastUsedAt`.
   *
   * @example
   * ```ts
   * await store.touch(new Map([['1', new Date()]]))
   * ```
   */
  async touch(uses: ReadonlyMap<string, Date>): Promise<void> {
    const keys: string[] = []
    const times: string[] = []
    for (const [id, at] of uses) {
      if (!isStoredId(id)) continue
      keys.push(`${this.#prefix}token:${id}`)
      times.push(millis(at))
    }
    if (keys.length === 0) return
    await this.#run('touch', () => this.#touch(keys.length, ...keys, ...times))
  }

  /**
   * A script: ZRANGEBYSCORE on the `expires` set (and on `created` when `createdBefore` is given), then each
   * token is removed with its `hash:` key and index entries. Returns how many were deleted.
   *
   * @example
   * ```ts
   * await store.deleteExpired({ expiredBefore: new Date(Date.now() - 24 * 3600_000) }) // 3
   * ```
   */
  async deleteExpired(criteria: ExpiredTokenCriteria): Promise<number> {
    const p = this.#prefix
    const expiredBefore = millis(criteria.expiredBefore)
    const createdBefore = criteria.createdBefore === undefined ? '' : millis(criteria.createdBefore)
    const reply = await this.#run('deleteExpired', () =>
      this.#deleteExpired(`${p}expires`, `${p}created`, p, expiredBefore, createdBefore),
    )
    if (typeof reply !== 'number') throw malformed('deleteExpired')
    return reply
  }

  /**
   * Deletes every key under this store's prefix, the id counter included (ids start again at 1), and returns
   * how many keys it deleted. It walks the keyspace with SCAN, so it is not atomic and costs a pass over the
   * whole database: meant for tests and teardown, not for revoking tokens in production.
   *
   * @example
   * ```ts
   * afterEach(() => store.clear())
   * ```
   */
  async clear(): Promise<number> {
    const match = `${escapeGlob(this.#prefix)}*`
    let cursor = '0'
    let deleted = 0
    do {
      const [next, keys] = await this.#run('clear', () =>
        this.#redis.scan(cursor, 'MATCH', match, 'COUNT', 1000),
      )
      cursor = next
      if (keys.length > 0) deleted += await this.#run('clear', () => this.#redis.unlink(...keys))
    } while (cursor !== '0')
    return deleted
  }

  #ownerKey(owner: TokenOwner): string {
    // The same formula as owner_key() in the Lua helpers: Lua's # is a byte length too.
    return `${this.#prefix}owner:${Buffer.byteLength(owner.type, 'utf8')}:${owner.type}:${owner.id}`
  }

  // Runs one Redis call under the store's deadline, and turns every failure into StorageUnavailableError
  // with the driver's error as `cause`: a Redis that is down must never read as "no such token".
  async #run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new StorageUnavailableError(`Redis did not answer "${operation}" within ${this.#timeout} ms.`),
          ),
        this.#timeout,
      )
    })
    try {
      return await Promise.race([call(), deadline])
    } catch (error) {
      if (error instanceof StorageUnavailableError) throw error
      throw new StorageUnavailableError(`Redis failed to run "${operation}".`, { cause: error })
    } finally {
      clearTimeout(timer)
    }
  }
}

/** A script defined on the client, called as KEYS then ARGV (or, with a variable key count, the count first). */
type Script = (...args: (string | number)[]) => Promise<unknown>

// The read scripts are not flagged `readOnly`: on a Cluster with `scaleReads` that would send them to replicas,
// which may still hold a token that was just revoked.
function defineScript(redis: Redis, name: string, numberOfKeys: number | null, body: string): Script {
  redis.defineCommand(name, {
    lua: `${LUA_HELPERS}\n${body}`,
    ...(numberOfKeys !== null && { numberOfKeys }),
  })
  // defineCommand adds a method that TypeScript cannot know about: look it up and check it.
  const command: unknown = Reflect.get(redis, name)
  if (typeof command !== 'function') {
    throw new MisconfigurationError(`The Redis client did not define the command ${name}.`)
  }
  return (...args) => Promise.resolve(command.apply(redis, args))
}

// Ids are INCR's values: 1 to 2^63 - 1, so at most 19 digits and no leading zero.
const STORED_ID = /^[1-9][0-9]{0,18}$/

function isStoredId(id: string): boolean {
  return STORED_ID.test(id)
}

function millis(date: Date): string {
  const time = date.getTime()
  if (!Number.isFinite(time)) throw new TypeError('Cannot store an invalid Date.')
  return String(time)
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}

function malformed(operation: string): StorageUnavailableError {
  return new StorageUnavailableError(`Redis gave an unexpected answer to "${operation}".`)
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string')
}

// HGETALL inside a script answers a flat [field, value, field, value…] list.
function parseFields(value: unknown): Record<string, string> | null {
  if (!isStringArray(value) || value.length % 2 !== 0) return null
  const entries: [string, string][] = []
  for (let i = 0; i < value.length; i += 2) entries.push([value[i] ?? '', value[i + 1] ?? ''])
  // fromEntries defines own properties, so even a field named __proto__ could not reach the prototype.
  return Object.fromEntries(entries)
}

// The scripts answer a token as [id, [field, value, …]].
function parseListed(value: unknown): { id: string; fields: Record<string, string> } | null {
  if (!Array.isArray(value) || value.length !== 2) return null
  const [id, flat]: unknown[] = value
  const fields = parseFields(flat)
  return typeof id === 'string' && fields ? { id, fields } : null
}

// What `insert` and `rotate` answer: the record as given, with its new id, built afresh.
function inserted(id: string, token: NewTokenRecord): TokenRecord {
  return {
    id,
    owner: { type: token.owner.type, id: token.owner.id },
    name: token.name,
    abilities: [...token.abilities],
    tokenHash: token.tokenHash,
    lastUsedAt: null,
    expiresAt: token.expiresAt === null ? null : new Date(token.expiresAt.getTime()),
    createdAt: new Date(token.createdAt.getTime()),
    updatedAt: new Date(token.updatedAt.getTime()),
    ...(token.metadata !== undefined && { metadata: JSON.parse(JSON.stringify(token.metadata)) }),
  }
}

function toRecord(id: string, fields: Readonly<Record<string, string>>): TokenRecord {
  const { ownerType, ownerId, name, abilities, tokenHash } = fields
  const createdAt = toDate(fields.createdAt)
  const updatedAt = toDate(fields.updatedAt)
  const lastUsedAt = fields.lastUsedAt === undefined ? null : toDate(fields.lastUsedAt)
  const expiresAt = fields.expiresAt === undefined ? null : toDate(fields.expiresAt)
  const abilityList = abilities === undefined ? undefined : parseAbilities(abilities)
  const metadata = fields.metadata === undefined ? null : parseMetadata(fields.metadata)
  if (
    ownerType === undefined ||
    ownerId === undefined ||
    name === undefined ||
    tokenHash === undefined ||
    abilityList === undefined ||
    createdAt === undefined ||
    updatedAt === undefined ||
    lastUsedAt === undefined ||
    expiresAt === undefined ||
    metadata === undefined
  ) {
    // Only a hand edit or another program could leave such a hash: report a broken store, not "no token".
    throw new StorageUnavailableError(`The token ${id} is stored in Redis in a form this store cannot read.`)
  }
  // Every field is built afresh from strings: nothing here is shared with another caller.
  return {
    id,
    owner: { type: ownerType, id: ownerId },
    name,
    abilities: abilityList,
    tokenHash,
    lastUsedAt,
    expiresAt,
    createdAt,
    updatedAt,
    ...(metadata !== null && { metadata }),
  }
}

function parseMetadata(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

function toDate(text: string | undefined): Date | undefined {
  if (text === undefined || !/^-?[0-9]+$/.test(text)) return undefined
  const time = Number(text)
  return Number.isSafeInteger(time) ? new Date(time) : undefined
}

function parseAbilities(text: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return isStringArray(value) ? value : undefined
  } catch {
    return undefined
  }
}

// Shared by every script. Redis forbids globals in scripts, hence `local`. `#text` is a length in bytes.
const LUA_HELPERS = `
local function pad(id) return string.rep('0', 19 - #id) .. id end
local function unpad(member) return string.match(member, '^0*(.+)$') end
local function owner_key(prefix, owner_type, owner_id)
  return prefix .. 'owner:' .. #owner_type .. ':' .. owner_type .. ':' .. owner_id
end
-- Removes a token with its hash: key and its entries in the three indexes. False if it did not exist.
local function remove_token(prefix, id)
  local key = prefix .. 'token:' .. id
  local f = redis.call('HMGET', key, 'tokenHash', 'ownerType', 'ownerId')
  if not f[1] then return false end
  redis.call('DEL', key, prefix .. 'hash:' .. f[1])
  redis.call('ZREM', owner_key(prefix, f[2], f[3]), pad(id))
  redis.call('ZREM', prefix .. 'created', id)
  redis.call('ZREM', prefix .. 'expires', id)
  return true
end
-- Writes a new token; the caller has checked that its hash is free. Returns the new id.
-- keys: hash:{tokenHash}, next-id, owner set, created, expires. a: ownerType, ownerId, name, abilities,
-- tokenHash, createdAt, updatedAt, expiresAt ('' = never), metadata ('' = none).
local function insert_token(prefix, keys, a)
  redis.call('INCR', keys[2])
  -- INCR's reply is a Lua number (a double, printed as 1e+15 past 10^14): GET gives the exact digits.
  local id = redis.call('GET', keys[2])
  local fields = {
    'ownerType', a[1], 'ownerId', a[2], 'name', a[3], 'abilities', a[4],
    'tokenHash', a[5], 'createdAt', a[6], 'updatedAt', a[7],
  }
  if a[8] ~= '' then
    table.insert(fields, 'expiresAt')
    table.insert(fields, a[8])
    redis.call('ZADD', keys[5], a[8], id)
  end
  if a[9] ~= '' then
    table.insert(fields, 'metadata')
    table.insert(fields, a[9])
  end
  redis.call('HSET', prefix .. 'token:' .. id, unpack(fields))
  redis.call('SET', keys[1], id)
  redis.call('ZADD', keys[3], a[6], pad(id))
  redis.call('ZADD', keys[4], a[6], id)
  return id
end
`

// KEYS: hash:{tokenHash}, next-id, owner set, created, expires.
// ARGV: prefix, then insert_token's nine values. The EXISTS check and the SET cannot be separated by another
// insert, so tokenHash stays unique; the hash is checked before INCR so that a refused insert writes nothing.
const INSERT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
return insert_token(ARGV[1], { KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5] }, { unpack(ARGV, 2, 10) })
`

// KEYS: token:{old id}, next-id, hash:{new tokenHash}, owner set, created, expires.
// ARGV: prefix, insert_token's nine values, old id, ownerType, ownerId, retireAt ('' = delete the old token).
// Answers 0 when the owner has no such token, its name or abilities are not the new token's (this store writes
// abilities as JSON.stringify does, so equal lists are equal text) or it ends before the new one would, nil when
// the new hash is taken (nothing written), else the new id.
const ROTATE = `
local old = redis.call('HMGET', KEYS[1], 'ownerType', 'ownerId', 'name', 'abilities', 'expiresAt')
if old[1] ~= ARGV[12] or old[2] ~= ARGV[13] or old[3] ~= ARGV[4] or old[4] ~= ARGV[5] then return 0 end
if old[5] and (ARGV[9] == '' or tonumber(ARGV[9]) > tonumber(old[5])) then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return false end
local id = insert_token(ARGV[1], { KEYS[3], KEYS[2], KEYS[4], KEYS[5], KEYS[6] }, { unpack(ARGV, 2, 10) })
if ARGV[14] == '' then
  remove_token(ARGV[1], ARGV[11])
else
  local ends = redis.call('HGET', KEYS[1], 'expiresAt')
  if not ends or tonumber(ends) > tonumber(ARGV[14]) then
    redis.call('HSET', KEYS[1], 'expiresAt', ARGV[14])
    redis.call('ZADD', KEYS[6], ARGV[14], ARGV[11])
  end
end
return id
`

// KEYS: hash:{tokenHash}. ARGV: prefix. Answers [id, fields] or nil.
const FIND_BY_HASH = `
local id = redis.call('GET', KEYS[1])
if not id then return false end
local fields = redis.call('HGETALL', ARGV[1] .. 'token:' .. id)
if #fields == 0 then return false end
return { id, fields }
`

// KEYS: owner set. ARGV: prefix. Answers [[id, fields], …], newest first: the set's order.
const LIST_BY_OWNER = `
local tokens = {}
for _, member in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, -1)) do
  local id = unpad(member)
  local fields = redis.call('HGETALL', ARGV[1] .. 'token:' .. id)
  if #fields > 0 then table.insert(tokens, { id, fields }) end
end
return tokens
`

// KEYS: token:{id}. ARGV: ownerType, ownerId, prefix, id, a new tokenHash ('' = keep), the abilities the token
// must still have ('' = any), then the field/value pairs to set. Answers the new fields, nil for another owner's
// (or no) token or one whose abilities changed, 0 when the new hash is taken.
const UPDATE = `
local owner = redis.call('HMGET', KEYS[1], 'ownerType', 'ownerId', 'tokenHash', 'abilities')
if owner[1] ~= ARGV[1] or owner[2] ~= ARGV[2] then return false end
if ARGV[6] ~= '' and owner[4] ~= ARGV[6] then return false end
if ARGV[5] ~= '' and ARGV[5] ~= owner[3] then
  local taken = ARGV[3] .. 'hash:' .. ARGV[5]
  if redis.call('EXISTS', taken) == 1 then return 0 end
  redis.call('DEL', ARGV[3] .. 'hash:' .. owner[3])
  redis.call('SET', taken, ARGV[4])
  redis.call('HSET', KEYS[1], 'tokenHash', ARGV[5])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
return redis.call('HGETALL', KEYS[1])
`

// KEYS: token:{id}. ARGV: prefix, id, ownerType, ownerId. Answers 1 when deleted, 0 otherwise.
const DELETE = `
local owner = redis.call('HMGET', KEYS[1], 'ownerType', 'ownerId')
if owner[1] ~= ARGV[3] or owner[2] ~= ARGV[4] then return 0 end
remove_token(ARGV[1], ARGV[2])
return 1
`

// KEYS: owner set. ARGV: prefix, the id to keep ('' for none). Answers the deleted ids.
const DELETE_BY_OWNER = `
local deleted = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local id = unpad(member)
  if id ~= ARGV[2] and remove_token(ARGV[1], id) then table.insert(deleted, id) end
end
return deleted
`

// KEYS: token:{id} of each id. ARGV: each one's time of use in epoch milliseconds, in the same order.
const TOUCH = `
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local last = redis.call('HGET', key, 'lastUsedAt')
    if not last or tonumber(last) < tonumber(ARGV[i]) then redis.call('HSET', key, 'lastUsedAt', ARGV[i]) end
  end
end
return 0
`

// KEYS: expires, created. ARGV: prefix, expiredBefore, createdBefore ('' = not given). "Before" is strict: '('.
// The ids are gathered before the first delete, so the loops never walk a set they are changing.
const DELETE_EXPIRED = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2])
if ARGV[3] ~= '' then
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])) do table.insert(ids, id) end
end
local count = 0
for _, id in ipairs(ids) do
  if remove_token(ARGV[1], id) then count = count + 1 end
end
return count
`
