import { createHash, hash as oneShotHash } from 'node:crypto'
import { createTokens, MemoryTokenStore, PermissionRegistry, type TokenRecord } from '@jetstream/tokens'
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex } from '@noble/hashes/utils.js'
import { formatRate, measure } from './measure.js'

/** sha256 of a 48-character secret three ways: the figures behind the core's choice of @noble/hashes. */
export async function benchHashes(): Promise<string[]> {
  const secret = 'Xq3f9LmN2pQ7rS8tU1vW4xY5zA6bC0dE9fG2hJ3k0a1b2c3d'
  const ascii = new Uint8Array(secret.length)
  const results = await measure([
    {
      name: '@noble/hashes sha256',
      run: () => {
        for (let i = 0; i < secret.length; i++) ascii[i] = secret.charCodeAt(i)
        return bytesToHex(sha256(ascii))
      },
    },
    { name: 'node:crypto hash (one-shot)', run: () => oneShotHash('sha256', secret, 'hex') },
    { name: 'node:crypto createHash', run: () => createHash('sha256').update(secret).digest('hex') },
    {
      name: 'WebCrypto subtle.digest (awaited)',
      run: () => crypto.subtle.digest('SHA-256', new TextEncoder().encode(secret)),
    },
  ])
  return results.map((r) => `| ${r.name} | ${formatRate(r.opsPerSecond)} |`)
}

/**
 * `authenticate` on the memory store against the floor: the same work written plainly (split at `|`, the CRC-32
 * check the format requires before any lookup, sha256 with Node's fastest `crypto.hash`, a Map lookup, a
 * constant-time compare), in one run.
 */
export async function benchMemoryAuthenticate(): Promise<{
  rows: string[]
  ratio: number
  writesPerAuthenticate: number
}> {
  const permissions = new PermissionRegistry({
    permissions: ['create', 'read', 'update', 'delete'],
    defaults: ['read'],
  })
  let writes = 0
  const store = new MemoryTokenStore()
  const touch = store.touch.bind(store)
  store.touch = (uses) => {
    writes += 1
    return touch(uses)
  }
  const tokens = createTokens({ store, permissions, lastUsed: { interval: 60_000, flushDelay: 50 } })
  const { plainTextToken } = await tokens.create('42', 'bench', ['read'])
  // Steady state: the first use is touched and flushed before measuring.
  await tokens.authenticate(plainTextToken)
  await tokens.close()
  writes = 0

  const records = new Map<string, TokenRecord>()
  const stored = await store.findById(plainTextToken.slice(0, plainTextToken.indexOf('|')))
  if (stored) records.set(stored.id, stored)
  // CRC-32 table, as any hand-written checker of Sanctum 4's format needs.
  const crcTable = new Int32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    crcTable[n] = c
  }
  const floor = async (plain: string) => {
    const bar = plain.indexOf('|')
    const secret = plain.slice(bar + 1)
    let crc = -1
    for (let i = 0; i < 40; i++) crc = (crcTable[(crc ^ secret.charCodeAt(i)) & 0xff] as number) ^ (crc >>> 8)
    if ((crc ^ -1) >>> 0 !== Number.parseInt(secret.slice(40), 16)) return null
    const hash = oneShotHash('sha256', secret, 'hex')
    const record = records.get(plain.slice(0, bar))
    if (!record) return null
    let difference = 0
    for (let i = 0; i < hash.length; i++) difference |= hash.charCodeAt(i) ^ record.tokenHash.charCodeAt(i)
    return difference === 0 ? record : null
  }

  const [ours, base] = await measure([
    { name: '@jetstream/tokens authenticate (memory store)', run: () => tokens.authenticate(plainTextToken) },
    { name: 'floor: split + CRC-32 + sha256 + Map + compare', run: () => floor(plainTextToken) },
  ])
  await tokens.close()
  const authenticates = 1 // writes are counted over the whole run; any touch at all would show here
  const ratio = (ours?.opsPerSecond ?? 0) / (base?.opsPerSecond ?? 1)
  return {
    rows: [
      `| ${ours?.name} | ${formatRate(ours?.opsPerSecond ?? 0)} | ${ratio.toFixed(2)} |`,
      `| ${base?.name} | ${formatRate(base?.opsPerSecond ?? 0)} | 1.00 |`,
    ],
    ratio,
    writesPerAuthenticate: writes / authenticates,
  }
}
