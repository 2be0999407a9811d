import { crc32Final, crc32Hex, crc32Step } from './crc32.js'
import { MisconfigurationError } from './errors.js'
import { sha256Hex } from './sha256.js'

/*
 * Sanctum 4's plain-text format: `{id}|{prefix}{40 random [A-Za-z0-9]}{crc32b of those 40, 8 hex}`.
 * Only sha256(everything after the `|`) is stored, as lowercase hex.
 */

const ENTROPY_LENGTH = 40
const CHECKSUM_LENGTH = 8
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
// The largest multiple of 62 below 256: bytes at or above it are redrawn, so every character is equally likely.
const UNBIASED_LIMIT = 248
const MAX_ID_LENGTH = 64
// The largest id any SQL integer column holds (bigint): a decimal id past it can only be a forgery.
const MAX_DECIMAL_ID = '9223372036854775807'
const PREFIX = /^[A-Za-z0-9_-]{0,32}$/

/**
 * A plain-text token split into its parts; `id` is null when only the secret was given.
 *
 * @example
 * ```ts
 * const { id, secret }: ParsedPlainTextToken = { id: '7', secret: 'Xq3…' }
 * ```
 */
export interface ParsedPlainTextToken {
  readonly id: string | null
  readonly secret: string
}

/**
 * Checks a token prefix once, when the service is built.
 *
 * @example
 * ```ts
 * assertValidPrefix('acme_') // ok
 * assertValidPrefix('a|b')   // throws MisconfigurationError
 * ```
 */
export function assertValidPrefix(prefix: string): void {
  if (typeof prefix !== 'string' || !PREFIX.test(prefix)) {
    throw new MisconfigurationError(
      `The token prefix ${JSON.stringify(prefix)} is not valid: use up to 32 characters of A-Z, a-z, 0-9, "_" or "-".`,
    )
  }
}

/**
 * A new secret: the prefix, 40 characters from a CSPRNG without modulo bias, and their CRC-32.
 *
 * @example
 * ```ts
 * generateSecret('acme_') // 'acme_Xq3…(40)…9f3a01bc'
 * ```
 */
export function generateSecret(prefix: string): string {
  let entropy = ''
  const bytes = new Uint8Array(64)
  while (entropy.length < ENTROPY_LENGTH) {
    crypto.getRandomValues(bytes)
    for (let i = 0; i < bytes.length && entropy.length < ENTROPY_LENGTH; i++) {
      const byte = bytes[i] as number
      if (byte < UNBIASED_LIMIT) entropy += ALPHABET[byte % ALPHABET.length]
    }
  }
  return prefix + entropy + crc32Hex(entropy)
}

/**
 * Splits a plain-text token and checks its shape and checksum, without touching storage. Returns null for
 * anything malformed: empty, whitespace, an id that is not a plain word, a wrong length or prefix, a bad checksum.
 * With `legacy`, a secret of exactly 40 letters and digits, as Sanctum 2 and 3 issued them (no prefix, no
 * checksum), is accepted too.
 *
 * @example
 * ```ts
 * parsePlainTextToken('7|Xq3…', '')  // { id: '7', secret: 'Xq3…' }
 * parsePlainTextToken('Xq3…', '')    // { id: null, secret: 'Xq3…' }
 * parsePlainTextToken('7|nope', '')  // null
 * ```
 */
export function parsePlainTextToken(
  plainText: string,
  prefix: string,
  legacy = false,
): ParsedPlainTextToken | null {
  // One pass over the characters, no regular expression: this runs on every request.
  if (typeof plainText !== 'string') return null
  const bar = plainText.indexOf('|')
  if (bar === 0 || (bar > 0 && !isCanonicalId(plainText, bar))) return null
  const start = bar + 1
  if (legacy && plainText.length === start + ENTROPY_LENGTH) return parseLegacy(plainText, bar)
  const entropyStart = start + prefix.length
  const checksumStart = entropyStart + ENTROPY_LENGTH
  if (plainText.length !== checksumStart + CHECKSUM_LENGTH || !plainText.startsWith(prefix, start))
    return null
  let crc = 0xffffffff
  for (let i = entropyStart; i < checksumStart; i++) {
    const code = plainText.charCodeAt(i)
    if (CLASS[code] !== ALNUM) return null
    crc = crc32Step(crc, code)
  }
  let checksum = 0
  for (let i = checksumStart; i < plainText.length; i++) {
    const digit = HEX[plainText.charCodeAt(i)]
    if (digit === undefined || digit < 0) return null
    checksum = checksum * 16 + digit
  }
  if (checksum !== crc32Final(crc)) return null
  return {
    id: bar === -1 ? null : plainText.slice(0, bar),
    secret: start === 0 ? plainText : plainText.slice(start),
  }
}

// Sanctum 2/3: `{id}|{40 random [A-Za-z0-9]}`, nothing to check but the characters.
function parseLegacy(plainText: string, bar: number): ParsedPlainTextToken | null {
  for (let i = bar + 1; i < plainText.length; i++) {
    if (CLASS[plainText.charCodeAt(i)] !== ALNUM) return null
  }
  return { id: bar === -1 ? null : plainText.slice(0, bar), secret: plainText.slice(bar + 1) }
}

/**
 * The stored form of a secret: sha256, lowercase hex (Sanctum's `hash('sha256', $plainText)`).
 *
 * @example
 * ```ts
 * hashSecret(secret) // 64 hex characters
 * ```
 */
export function hashSecret(secret: string): string {
  // Secrets reaching here are ASCII (checked by the parser or made by generateSecret): no UTF-8 encoder needed.
  return sha256Hex(secret)
}

/**
 * Compares two hashes in time that depends only on their length, so a wrong guess leaks nothing about how close
 * it was.
 *
 * @example
 * ```ts
 * hashesEqual(hashSecret(secret), record.tokenHash)
 * ```
 */
export function hashesEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let difference = 0
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return difference === 0
}

/**
 * True for a string that can be a token id, in the one form a store gives it: 1 to 64 characters of
 * `[A-Za-z0-9_-]` (so never a `|`), and a number only as canonical decimal: no sign, no leading zero, no more than
 * a bigint holds. So `01`, `-1` and `99999999999999999999` are never token 1, -1 or anything, on any store.
 *
 * @example
 * ```ts
 * isTokenId('42')  // true
 * isTokenId('042') // false
 * isTokenId('4 2') // false
 * ```
 */
export function isTokenId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && isCanonicalId(id, id.length)
}

// The first `length` characters of `text` as an id: see isTokenId. No regular expression: this runs per request.
function isCanonicalId(text: string, length: number): boolean {
  if (length > MAX_ID_LENGTH) return false
  let digits = 0
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i)
    // Out of the table's range reads undefined, which is no class either.
    if (!CLASS[code]) return false
    if (code >= ZERO && code <= NINE) digits++
  }
  const first = text.charCodeAt(0)
  // A sign before digits (`-1`) is a number in disguise, not a word.
  if (first === MINUS && digits === length - 1 && length > 1) return false
  if (digits !== length) return true
  if (first === ZERO) return length === 1
  return (
    length < MAX_DECIMAL_ID.length ||
    (length === MAX_DECIMAL_ID.length && text.slice(0, length) <= MAX_DECIMAL_ID)
  )
}

const ZERO = 48
const NINE = 57
const MINUS = 45

// Character classes of ASCII codes: ALNUM for [A-Za-z0-9], WORD for the extra id characters `_` and `-`.
const ALNUM = 1
const WORD = 2
const CLASS = new Uint8Array(128)
const HEX = new Int8Array(128).fill(-1)
for (let code = 0; code < 128; code++) {
  const char = String.fromCharCode(code)
  if (/[A-Za-z0-9]/.test(char)) CLASS[code] = ALNUM
  if (char === '_' || char === '-') CLASS[code] = WORD
  if (/[0-9a-f]/.test(char)) HEX[code] = Number.parseInt(char, 16)
}
