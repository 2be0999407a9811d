import { describe, expect, it } from 'vitest'
import { crc32Hex } from './crc32.js'

describe('crc32Hex', () => {
  it("matches PHP's hash('crc32b', …)", () => {
    expect(crc32Hex('')).toBe('00000000')
    expect(crc32Hex('The quick brown fox jumps over the lazy dog')).toBe('414fa339')
    expect(crc32Hex('123456789')).toBe('cbf43926')
    // Pads to 8 digits.
    expect(crc32Hex('a')).toBe('e8b7be43')
  })
})
