import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { portableSha256Hex, sha256Hex } from './sha256.js'

describe('sha256Hex', () => {
  it('gives the known digest', () => {
    const abc = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    expect(sha256Hex('abc')).toBe(abc)
    expect(portableSha256Hex('abc')).toBe(abc)
  })

  it('gives the same digest with the runtime hash and the portable one, for any ASCII text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary-ascii', maxLength: 200 }), (text) => {
        const expected = createHash('sha256').update(text, 'latin1').digest('hex')
        expect(sha256Hex(text)).toBe(expected)
        expect(portableSha256Hex(text)).toBe(expected)
      }),
    )
  })
})
