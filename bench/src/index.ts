import { benchHashes, benchMemoryAuthenticate } from './core.js'

const hashes = await benchHashes()
console.log('\n## sha256 of a 48-character secret\n\n| implementation | rate |\n|---|---:|')
for (const row of hashes) console.log(row)

const memory = await benchMemoryAuthenticate()
console.log(
  '\n## authenticate, memory store, against its floor (same run)\n\n| scenario | rate | × floor |\n|---|---:|---:|',
)
for (const row of memory.rows) console.log(row)
console.log(
  `\nstorage writes during the measured run: ${memory.writesPerAuthenticate} (steady state must be 0)`,
)
console.log(`ratio to floor: ${memory.ratio.toFixed(2)} (target >= 0.60)`)
