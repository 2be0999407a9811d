import { MisconfigurationError } from './errors.js'
import { hashSecret } from './plain-text-token.js'
import { hmacSha256Hex } from './sha256.js'

/** A hash key shorter than this many characters is refused: a pepper must be as hard to guess as a secret. */
const MIN_KEY_LENGTH = 32

/**
 * How secrets are hashed at rest: Sanctum's sha256 by default, or HMAC-SHA256 under a server-side key (a
 * "pepper"), so that a copy of the table alone can neither check a guessed secret nor let whoever can write to
 * it plant a token of their own.
 *
 * @example
 * ```ts
 * const options: HashKeyOptions = { hashKey: process.env.TOKEN_HASH_KEY, previousHashKeys: [null] }
 * ```
 */
export interface HashKeyOptions {
  /** The key new hashes are made with (at least 32 characters). Absent: plain sha256, as Sanctum stores. */
  readonly hashKey?: string
  /**
   * Keys that made hashes still in the table, newest first: a token hashed with one of them is accepted and
   * rehashed to `hashKey` on its next use. `null` stands for the plain sha256 of tokens made before any key.
   */
  readonly previousHashKeys?: readonly (string | null)[]
}

/**
 * Hashes secrets with the current key, and under the previous keys for tokens not yet rehashed.
 *
 * @example
 * ```ts
 * const hasher = new SecretHasher({ hashKey: key })
 * record.tokenHash === hasher.hash(secret)
 * ```
 */
export class SecretHasher {
  /** Hashes the current key makes. */
  readonly hash: (secret: string) => string
  readonly #previous: readonly ((secret: string) => string)[]

  constructor(options: HashKeyOptions) {
    const key = options.hashKey
    const previous = options.previousHashKeys ?? []
    if (key !== undefined) checkKey(key, '`hashKey`')
    if (!Array.isArray(previous)) {
      throw new MisconfigurationError(
        '`previousHashKeys` is a list of keys, newest first (null: plain sha256).',
      )
    }
    for (const old of previous) if (old !== null) checkKey(old, 'Each of `previousHashKeys`')
    this.hash = hasherOf(key ?? null)
    this.#previous = previous.filter((old) => old !== (key ?? null)).map(hasherOf)
  }

  /** Whether tokens hashed under an earlier key may still be stored. */
  get hasPrevious(): boolean {
    return this.#previous.length > 0
  }

  /**
   * The secret's hashes under the previous keys, newest first.
   *
   * @example
   * ```ts
   * const older = hasher.previousHashes(secret)
   * ```
   */
  previousHashes(secret: string): string[] {
    return this.#previous.map((hash) => hash(secret))
  }
}

function hasherOf(key: string | null): (secret: string) => string {
  return key === null ? hashSecret : (secret) => hmacSha256Hex(key, secret)
}

function checkKey(key: unknown, what: string): void {
  if (typeof key !== 'string' || key.length < MIN_KEY_LENGTH) {
    throw new MisconfigurationError(
      `${what} is a secret of at least ${MIN_KEY_LENGTH} characters (say, 32 random bytes as hex).`,
    )
  }
}
