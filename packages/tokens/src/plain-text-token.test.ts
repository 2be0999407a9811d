import { createHash } from 'node:crypto'
import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MisconfigurationError } from './errors.js'
import {
  assertValidPrefix,
  generateSecret,
  hashesEqual,
  hashSecret,
  isTokenId,
  parsePlainTextToken,
} from './plain-text-token.js'

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'
const entropy = fc.string({ unit: fc.constantFrom(...ALNUM), minLength: 40, maxLength: 40 })
// What a store can give as an id, written out here apart from the parser: a word, and a number only in canonical
// decimal (no sign, no leading zero, at most a bigint).
const MAX_BIGINT = 9_223_372_036_854_775_807n
function canonical(id: string): boolean {
  if (/^-[0-9]+$/.test(id)) return false
  if (!/^[0-9]+$/.test(id)) return true
  return /^(?:0|[1-9][0-9]*)$/.test(id) && BigInt(id) <= MAX_BIGINT
}
const tokenId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).filter(canonical)
const prefix = fc.stringMatching(/^[A-Za-z0-9_-]{0,32}$/)

// Sanctum 4: $entropy . hash('crc32b', $entropy), written here with Node's own CRC-32 to cross-check ours.
function sanctumSecret(prefixText: string, entropyText: string): string {
  return prefixText + entropyText + crc32(entropyText).toString(16).padStart(8, '0')
}

describe('generateSecret', () => {
  it('is the prefix, 40 alphanumerics and their CRC-32', () => {
    const secret = generateSecret('acme_')
    expect(secret).toMatch(/^acme_[A-Za-z0-9]{40}[0-9a-f]{8}$/)
    expect(secret).toBe(sanctumSecret('acme_', secret.slice(5, 45)))
  })

  it('never repeats and uses the whole alphabet about evenly', () => {
    const counts = new Map<string, number>()
    const seen = new Set<string>()
    for (let i = 0; i < 2_000; i++) {
      const secret = generateSecret('')
      seen.add(secret)
      for (const char of secret.slice(0, 40)) counts.set(char, (counts.get(char) ?? 0) + 1)
    }
    expect(seen.size).toBe(2_000)
    expect(counts.size).toBe(62)
    // 80 000 draws over 62 symbols: about 1290 each; a modulo bias over 256 would put the first 8 near 1500.
    for (const count of counts.values()) expect(count).toBeGreaterThan(1_100)
    for (const count of counts.values()) expect(count).toBeLessThan(1_480)
  })
})

describe('parsePlainTextToken', () => {
  it('accepts every well-formed token, with or without its id', () => {
    fc.assert(
      fc.property(tokenId, prefix, entropy, (id, pre, random) => {
        const secret = sanctumSecret(pre, random)
        expect(parsePlainTextToken(`${id}|${secret}`, pre)).toEqual({ id, secret })
        expect(parsePlainTextToken(secret, pre)).toEqual({ id: null, secret })
      }),
    )
  })

  it('refuses any token with one character changed', () => {
    fc.assert(
      fc.property(
        tokenId,
        entropy,
        fc.nat(),
        fc.constantFrom(...`${ALNUM}|_- .\0é`),
        (id, random, position, replacement) => {
          const plain = `${id}|${sanctumSecret('', random)}`
          const at = position % plain.length
          fc.pre(plain[at] !== replacement)
          const mutated = plain.slice(0, at) + replacement + plain.slice(at + 1)
          const parsed = parsePlainTextToken(mutated, '')
          // A change inside the id part may give another well-formed id: then it must be that other id, with the
          // secret untouched, and the store decides. Anything else must fail here.
          if (parsed !== null) {
            expect(at).toBeLessThan(id.length)
            expect(parsed.secret).toBe(sanctumSecret('', random))
            expect(parsed.id).not.toBe(id)
          }
        },
      ),
      { numRuns: 2_000 },
    )
  })

  it.each([
    ['empty', ''],
    ['only a bar', '|'],
    ['no secret', '7|'],
    ['no id before the bar', `|${sanctumSecret('', 'a'.repeat(40))}`],
    ['an id with a space', `7 |${sanctumSecret('', 'a'.repeat(40))}`],
    ['an id of 65 characters', `${'1'.repeat(65)}|${sanctumSecret('', 'a'.repeat(40))}`],
    ['leading whitespace', ` 7|${sanctumSecret('', 'a'.repeat(40))}`],
    ['trailing whitespace', `7|${sanctumSecret('', 'a'.repeat(40))} `],
    ['a short secret', `7|${sanctumSecret('', 'a'.repeat(39))}`],
    ['a long secret', `7|${sanctumSecret('', 'a'.repeat(41))}`],
    ['a bad checksum', `7|${'a'.repeat(40)}00000000`],
    ['an upper-case checksum', `7|${sanctumSecret('', 'a'.repeat(40)).toUpperCase()}`],
    ['a non-alphanumeric random part', `7|${sanctumSecret('', `${'a'.repeat(39)}-`)}`],
    ['two bars', `7|8|${sanctumSecret('', 'a'.repeat(40))}`],
    ['a Sanctum 3 token (40 characters, no checksum)', `7|${'a'.repeat(40)}`],
  ])('refuses %s', (_, plain) => {
    expect(parsePlainTextToken(plain, '')).toBeNull()
  })

  it('refuses a missing or different prefix', () => {
    const random = 'b'.repeat(40)
    expect(parsePlainTextToken(`7|${sanctumSecret('acme_', random)}`, 'acme_')).not.toBeNull()
    expect(parsePlainTextToken(`7|${sanctumSecret('', random)}`, 'acme_')).toBeNull()
    expect(parsePlainTextToken(`7|${sanctumSecret('emca_', random)}`, 'acme_')).toBeNull()
  })

  it('accepts a Sanctum 2/3 secret (40 letters and digits) only when asked, and nothing looser', () => {
    const old = `${'a'.repeat(20)}${'B'.repeat(19)}7`
    expect(parsePlainTextToken(`7|${old}`, '')).toBeNull()
    expect(parsePlainTextToken(`7|${old}`, '', true)).toEqual({ id: '7', secret: old })
    expect(parsePlainTextToken(old, 'acme_', true)).toEqual({ id: null, secret: old })
    expect(parsePlainTextToken(`7|${old.slice(1)}`, '', true)).toBeNull()
    expect(parsePlainTextToken(`7|${old}x`, '', true)).toBeNull()
    expect(parsePlainTextToken(`7|${old.slice(1)}-`, '', true)).toBeNull()
    expect(parsePlainTextToken(`07|${old}`, '', true)).toBeNull()
  })

  it('refuses values that are not strings', () => {
    expect(parsePlainTextToken(undefined as unknown as string, '')).toBeNull()
    expect(parsePlainTextToken(42 as unknown as string, '')).toBeNull()
  })
})

describe('hashSecret', () => {
  it('is sha256 hex, as Sanctum stores it', () => {
    fc.assert(
      fc.property(entropy, (random) => {
        const secret = sanctumSecret('', random)
        expect(hashSecret(secret)).toBe(createHash('sha256').update(secret).digest('hex'))
      }),
    )
  })
})

describe('hashesEqual', () => {
  it('compares whole strings', () => {
    const hash = hashSecret('x')
    expect(hashesEqual(hash, hashSecret('x'))).toBe(true)
    expect(hashesEqual(hash, hashSecret('y'))).toBe(false)
    expect(hashesEqual(hash, `${hash.slice(0, 63)}0`)).toBe(hash.endsWith('0'))
    expect(hashesEqual(hash, hash.slice(0, 63))).toBe(false)
    expect(hashesEqual('', '')).toBe(true)
  })
})

describe('isTokenId and assertValidPrefix', () => {
  it('accept plain words only', () => {
    expect(isTokenId('42')).toBe(true)
    expect(isTokenId('01J9Z-abc_DEF')).toBe(true)
    for (const bad of ['', '4 2', '4|2', 'x'.repeat(65), 42, null]) expect(isTokenId(bad)).toBe(false)
  })

  it('take a number only in canonical decimal: no sign, no leading zero, at most a bigint', () => {
    for (const good of ['0', '7', '9223372036854775807', '1e3', 'a-1', '-abc', '0x1f'])
      expect(isTokenId(good)).toBe(true)
    for (const bad of ['01', '00', '0001', '-1', '-0', '9223372036854775808', '99999999999999999999'])
      expect(isTokenId(bad)).toBe(false)
    fc.assert(
      fc.property(fc.stringMatching(/^-?[0-9]{1,25}$/), (digits) => {
        expect(isTokenId(digits)).toBe(canonical(digits))
      }),
    )
  })

  it('refuse a token whose id is a non-canonical spelling, before any lookup', () => {
    const secret = sanctumSecret('', 'A'.repeat(40))
    expect(parsePlainTextToken(`1|${secret}`, '')).toEqual({ id: '1', secret })
    for (const id of ['01', '0001', '-1', '+1', ' 1', '1 ', '99999999999999999999'])
      expect(parsePlainTextToken(`${id}|${secret}`, '')).toBeNull()
  })

  it('accept prefixes of plain words only', () => {
    expect(() => assertValidPrefix('acme_')).not.toThrow()
    expect(() => assertValidPrefix('')).not.toThrow()
    for (const bad of ['a|b', 'a b', 'x'.repeat(33), 'é'])
      expect(() => assertValidPrefix(bad)).toThrow(MisconfigurationError)
  })
})
