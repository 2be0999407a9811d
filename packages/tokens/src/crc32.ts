// CRC-32 (IEEE 802.3, PHP's `crc32b`), the checksum Sanctum 4 appends to a token's random part. A table of 256
// words is all it takes; no portable package is smaller than these lines.
const table = new Uint32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  table[n] = c
}

/**
 * Feeds one byte into a running CRC-32. Start from `0xffffffff`, finish with {@link crc32Final}; the parser uses
 * it to check characters and sum them in one pass.
 *
 * @example
 * ```ts
 * let crc = 0xffffffff
 * for (const byte of bytes) crc = crc32Step(crc, byte)
 * crc32Final(crc)
 * ```
 */
export function crc32Step(crc: number, byte: number): number {
  return (table[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
}

/**
 * Finishes a running CRC-32 as an unsigned 32-bit number.
 *
 * @example
 * ```ts
 * crc32Final(crc32Step(0xffffffff, 97)) // 0xe8b7be43
 * ```
 */
export function crc32Final(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0
}

/**
 * The CRC-32 of an ASCII string as 8 lowercase hex digits, as PHP's `hash('crc32b', $text)` prints it.
 *
 * @example
 * ```ts
 * crc32Hex('The quick brown fox jumps over the lazy dog') // '414fa339'
 * ```
 */
export function crc32Hex(text: string): string {
  let crc = 0xffffffff
  for (let i = 0; i < text.length; i++) crc = crc32Step(crc, text.charCodeAt(i))
  return crc32Final(crc).toString(16).padStart(8, '0')
}
