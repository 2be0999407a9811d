import { benchHashes, benchMemoryAuthenticate } from './core.js'
import { benchDrizzle } from './drizzle.js'
import { benchAdapters } from './http/adapters.js'

const only = process.argv[2]

if (!only || only === 'core') {
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
}

if (!only || only === 'drizzle') {
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
  const drizzle = await benchDrizzle(serverUrl)
  console.log('\n## authenticate through @jetstream/drizzle, against the raw floor (same run)\n')
  console.log('| scenario | rate | × raw floor | client CPU per call |\n|---|---:|---:|---:|')
  for (const row of drizzle.rows) console.log(row)
  for (const { backend, ratio } of drizzle.ratios)
    console.log(`${backend}: ${ratio.toFixed(2)} of the raw floor (target >= 0.95)`)
}

if (!only || only === 'adapters') {
  const adapters = await benchAdapters()
  console.log(
    "\n## a protected route against the same framework's bare route (autocannon, 50 connections, own process)\n",
  )
  console.log('| scenario | rate | × bare | server CPU per request | non-2xx |\n|---|---:|---:|---:|---:|')
  for (const row of adapters.rows) console.log(row)
  for (const { framework, ratio } of adapters.ratios)
    console.log(`${framework}: ${ratio.toFixed(2)} of bare (target >= 0.85)`)
}
