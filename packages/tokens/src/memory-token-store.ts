import type { MaybePromise } from './maybe-promise.js'
import type { TokenOwner } from './token-owner.js'
import {
  type ExpiredTokenCriteria,
  hasAbilities,
  mayRotate,
  type NewTokenRecord,
  type TokenChangeListener,
  type TokenChanges,
  type TokenMetadata,
  type TokenRecord,
  type TokenStore,
} from './token-store.js'

/**
 * A {@link TokenStore} in process memory: the default for tests, demos and single-process apps. Tokens are lost
 * when the process ends. Every method completes in one synchronous step, so concurrent calls cannot interleave;
 * `watch` reports each change at once to every service on the store, so a verification cache on it is never stale.
 *
 * @example
 * ```ts
 * const tokens = createTokens({ store: new MemoryTokenStore(), permissions })
 * ```
 */
export class MemoryTokenStore implements TokenStore {
  readonly #byId = new Map<string, Stored>()
  readonly #idByHash = new Map<string, string>()
  #lastId = 0
  readonly #listeners = new Set<TokenChangeListener>()

  /**
   * Reports every change to `listener`, in process and before the changing call resolves: the store is the whole
   * truth, so it always delivers.
   *
   * @example
   * ```ts
   * const stop = store.watch({ changed: (ids) => drop(ids), delivering: () => {}, refused: () => {} })
   * ```
   */
  watch(listener: TokenChangeListener): () => Promise<void> {
    this.#listeners.add(listener)
    listener.delivering(true)
    return async () => {
      if (this.#listeners.delete(listener)) listener.delivering(false)
    }
  }

  /**
   * @example
   * ```ts
   * const { id } = await store.insert({ owner, name: 'CLI', abilities: ['read'], tokenHash, expiresAt: null, createdAt: now, updatedAt: now })
   * ```
   */
  async insert(token: NewTokenRecord): Promise<TokenRecord> {
    return record(this.#insert(token))
  }

  /**
   * @example
   * ```ts
   * await store.findById('1')
   * ```
   */
  findById(id: string): MaybePromise<TokenRecord | null> {
    // At once, not as a promise: the contract allows it, and a request on this store then needs no promise at all.
    const stored = this.#byId.get(id)
    return stored ? record(stored) : null
  }

  /**
   * @example
   * ```ts
   * await store.findByHash(hashSecret(secret))
   * ```
   */
  findByHash(tokenHash: string): MaybePromise<TokenRecord | null> {
    const stored = this.#byId.get(this.#idByHash.get(tokenHash) ?? '')
    return stored ? record(stored) : null
  }

  /**
   * @example
   * ```ts
   * await store.listByOwner({ type: 'user', id: '42' })
   * ```
   */
  async listByOwner(owner: TokenOwner): Promise<TokenRecord[]> {
    const owned = [...this.#byId.values()].filter((stored) => owns(owner, stored))
    // Ids count up, so among equal creation times the larger id is the newer token.
    owned.sort((a, b) => b.createdAt - a.createdAt || Number(b.id) - Number(a.id))
    return owned.map(record)
  }

  /**
   * @example
   * ```ts
   * await store.update(owner, '1', { abilities: ['read'], updatedAt: new Date() })
   * ```
   */
  async update(owner: TokenOwner, id: string, changes: TokenChanges): Promise<TokenRecord | null> {
    const stored = this.#byId.get(id)
    if (!stored || !owns(owner, stored)) return null
    if (changes.abilitiesWere && !hasAbilities(stored, changes.abilitiesWere)) return null
    const hash = changes.tokenHash
    if (hash !== undefined && hash !== stored.tokenHash && this.#idByHash.has(hash)) {
      throw new Error('A token with this hash is already stored.')
    }
    const updated: Stored = {
      ...stored,
      ...(changes.name !== undefined && { name: changes.name }),
      ...(changes.abilities !== undefined && { abilities: Object.freeze([...changes.abilities]) }),
      ...(hash !== undefined && { tokenHash: hash }),
      updatedAt: changes.updatedAt.getTime(),
    }
    if (hash !== undefined) {
      this.#idByHash.delete(stored.tokenHash)
      this.#idByHash.set(hash, id)
    }
    this.#byId.set(id, updated)
    this.#changed(id)
    return record(updated)
  }

  /**
   * @example
   * ```ts
   * const next = await store.rotate(owner, '1', newRecord, new Date(Date.now() + 3_600_000))
   * ```
   */
  async rotate(
    owner: TokenOwner,
    id: string,
    token: NewTokenRecord,
    retireAt: Date | null,
  ): Promise<TokenRecord | null> {
    const stored = this.#byId.get(id)
    if (!stored || !owns(owner, stored) || !mayRotate(record(stored), token)) return null
    // The insert may throw (a duplicate hash): it goes first, so a refusal leaves the old token as it was.
    const issued = this.#insert(token)
    if (retireAt === null) this.#remove(stored)
    else if (stored.expiresAt === null || stored.expiresAt > retireAt.getTime()) {
      this.#byId.set(id, { ...stored, expiresAt: retireAt.getTime() })
      this.#changed(id)
    }
    return record(issued)
  }

  /**
   * @example
   * ```ts
   * await store.delete(owner, '1') // true
   * ```
   */
  async delete(owner: TokenOwner, id: string): Promise<boolean> {
    const stored = this.#byId.get(id)
    if (!stored || !owns(owner, stored)) return false
    this.#remove(stored)
    return true
  }

  /**
   * @example
   * ```ts
   * await store.deleteByOwner(owner, currentTokenId)
   * ```
   */
  async deleteByOwner(owner: TokenOwner, exceptId?: string): Promise<string[]> {
    const deleted: string[] = []
    for (const stored of this.#byId.values()) {
      if (owns(owner, stored) && stored.id !== exceptId) {
        this.#remove(stored)
        deleted.push(stored.id)
      }
    }
    return deleted
  }

  /**
   * @example
   * ```ts
   * await store.touch(new Map([['1', new Date()]]))
   * ```
   */
  async touch(uses: ReadonlyMap<string, Date>): Promise<void> {
    for (const [id, at] of uses) {
      const time = at.getTime()
      const stored = this.#byId.get(id)
      if (stored && (stored.lastUsedAt === null || stored.lastUsedAt < time)) {
        this.#byId.set(id, { ...stored, lastUsedAt: time })
      }
    }
  }

  /**
   * @example
   * ```ts
   * await store.deleteExpired({ expiredBefore: new Date(Date.now() - 24 * 3600_000) })
   * ```
   */
  async deleteExpired(criteria: ExpiredTokenCriteria): Promise<number> {
    const expiredBefore = criteria.expiredBefore.getTime()
    const createdBefore = criteria.createdBefore?.getTime() ?? Number.NEGATIVE_INFINITY
    let count = 0
    for (const stored of this.#byId.values()) {
      if (
        (stored.expiresAt !== null && stored.expiresAt < expiredBefore) ||
        stored.createdAt < createdBefore
      ) {
        this.#remove(stored)
        count++
      }
    }
    return count
  }

  #insert(token: NewTokenRecord): Stored {
    if (this.#idByHash.has(token.tokenHash)) throw new Error('A token with this hash is already stored.')
    const stored: Stored = {
      id: String(++this.#lastId),
      ownerType: token.owner.type,
      ownerId: token.owner.id,
      name: token.name,
      abilities: Object.freeze([...token.abilities]),
      tokenHash: token.tokenHash,
      lastUsedAt: null,
      expiresAt: token.expiresAt === null ? null : token.expiresAt.getTime(),
      createdAt: token.createdAt.getTime(),
      updatedAt: token.updatedAt.getTime(),
      // Kept as JSON text, so no caller can change what is stored through an object it holds.
      metadata: token.metadata === undefined ? undefined : JSON.stringify(token.metadata),
    }
    this.#byId.set(stored.id, stored)
    this.#idByHash.set(stored.tokenHash, stored.id)
    return stored
  }

  #remove(stored: Stored): void {
    this.#byId.delete(stored.id)
    this.#idByHash.delete(stored.tokenHash)
    this.#changed(stored.id)
  }

  // A listener's failure is its own: the store's change is made, and the other listeners must still hear of it.
  #changed(id: string): void {
    for (const listener of this.#listeners) {
      try {
        listener.changed([id])
      } catch {
        // Nothing to undo, and no caller to tell: the service's own listener never throws.
      }
    }
  }
}

/** A token as this store keeps it: times as epoch milliseconds, abilities frozen so every reader may share them. */
interface Stored {
  readonly id: string
  readonly ownerType: string
  readonly ownerId: string
  readonly name: string
  readonly abilities: readonly string[]
  readonly tokenHash: string
  readonly lastUsedAt: number | null
  readonly expiresAt: number | null
  readonly createdAt: number
  readonly updatedAt: number
  readonly metadata: string | undefined
}

function owns(owner: TokenOwner, stored: Stored): boolean {
  return stored.ownerType === owner.type && stored.ownerId === owner.id
}

// A fresh record on every read; only the frozen abilities list is shared, since nobody can change it.
function record(stored: Stored): TokenRecord {
  return {
    id: stored.id,
    owner: { type: stored.ownerType, id: stored.ownerId },
    name: stored.name,
    abilities: stored.abilities,
    tokenHash: stored.tokenHash,
    lastUsedAt: stored.lastUsedAt === null ? null : new Date(stored.lastUsedAt),
    expiresAt: stored.expiresAt === null ? null : new Date(stored.expiresAt),
    createdAt: new Date(stored.createdAt),
    updatedAt: new Date(stored.updatedAt),
    ...(stored.metadata !== undefined && { metadata: JSON.parse(stored.metadata) as TokenMetadata }),
  }
}
