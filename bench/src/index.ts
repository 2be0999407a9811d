/**
 * `pnpm bench`: every benchmark, printed and written to bench/RESULTS.md with the machine, versions and date.
 * `node --expose-gc dist/index.js <part>` runs one part: core, drizzle, adapters, limits or verification.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { bytesPerCachedToken, listenLossDelays, revocationDelays } from './cache.js'
import { benchHashes, benchMemoryAuthenticate } from './core.js'
import { deadlineWaits } from './deadline.js'
import { benchDrizzle } from './drizzle.js'
import { benchAdapters } from './http/adapters.js'
import { benchLimits } from './http/limits.js'
import { benchVerification } from './http/verification.js'
import { pairedRatio } from './measure.js'

const only = process.argv[2]
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const out: string[] = []
const print = (...lines: string[]) => {
  for (const line of lines) {
    console.log(line)
    out.push(line)
  }
}

if (!only || only === 'core') {
  print(
    '',
    '## sha256 of a 48-character secret',
    '',
    '| implementation | rate |',
    '|---|---:|',
    ...(await benchHashes()),
  )
  const memory = await benchMemoryAuthenticate()
  print('', '## `authenticate`, memory store, against its floor (in process, same run)', '')
  print('| scenario | rate | × floor |', '|---|---:|---:|', ...memory.rows, '')
  print(
    `Storage writes during the measured run: ${memory.writesPerAuthenticate}. Ratio: ${memory.ratio.toFixed(2)} (target >= 0.60).`,
  )
}

if (!only || only === 'drizzle') {
  const drizzle = await benchDrizzle(serverUrl)
  print('', '## `authenticate` through @jetstream/drizzle, against the raw floor (in process, same run)', '')
  print(
    '| scenario | rate | × raw floor | client CPU per call |',
    '|---|---:|---:|---:|',
    ...drizzle.rows,
    '',
  )
  for (const { backend, ratio } of drizzle.ratios) {
    // One lookup at a time has no target: it measures a lone lookup's wait for the end of the turn (drizzle.ts).
    const target = backend.endsWith('one at a time') ? 'no target' : 'target >= 0.95'
    print(`${backend}: ${ratio.toFixed(2)} of the raw floor (${target}).`)
  }
}

if (!only || only === 'adapters') {
  const adapters = await benchAdapters()
  print('', "## A protected route (memory store) against the same framework's bare route", '')
  print(
    '| scenario | rate | × bare | server CPU per request | non-2xx |',
    '|---|---:|---:|---:|---:|',
    ...adapters.rows,
    '',
  )
  for (const { framework, ratio } of adapters.ratios)
    print(`${framework}: ${ratio.toFixed(2)} of bare (target >= 0.85).`)
}

if (!only || only === 'limits') {
  const limits = await benchLimits()
  print('', '## Rate limits and tracing on the cached route (Hono, drizzle on PGlite, cached), same run', '')
  print(
    '| scenario | rate | × the route alone | server CPU per request | non-2xx | in process: CPU per request | in process: added, and as a share of the route over HTTP |',
    '|---|---:|---:|---:|---:|---:|---:|',
  )
  print(...limits.rows, '')
  for (const { name, ratio } of limits.ratios.slice(1)) {
    print(
      `${name}: costs ${((1 - ratio) * 100).toFixed(0)}% of the route's throughput (target: at most 10%, for the memory limiter and for tracing).`,
    )
  }
}

if (!only || only === 'verification') {
  const table = await benchVerification(serverUrl)
  print(
    '',
    '## Verification, every way, one server process each (autocannon, 50 connections, every request a different token of 10,000 in turn, 3 rounds × 5 s, each on a fresh server warmed 3 s)',
    '',
  )
  print(
    '| scenario | rate | × bare Hono | × raw floor | statements per request | server CPU per request | non-2xx |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...table.rows,
  )
  const bytes = await bytesPerCachedToken()
  const delays = await revocationDelays(serverUrl)
  print(
    '',
    `Bytes per cached token: ${bytes === null ? 'run with --expose-gc' : Math.round(bytes)} (10 000 tokens on the memory store, two abilities each; strings shared with the store are not counted).`,
  )
  print(
    `Revocation seen by a second instance (LISTEN/NOTIFY, 20 revocations): median ${delays.median.toFixed(1)} ms, worst ${delays.worst.toFixed(1)} ms.`,
  )
  print(listenLossLine(await listenLossDelays(serverUrl)))
  print(deadlineLine(await deadlineWaits(serverUrl)))
  const row = (name: string) => table.results.find((r) => r.name === name)?.perRound ?? []
  const peer = table.results.find((r) => r.name.includes('better-auth'))?.perRound
  const cached = row('@jetstream/hono, drizzle on the server, cached')
  const uncached = row('@jetstream/hono, drizzle on the server, uncached')
  if (peer) {
    print(
      '',
      `Against better-auth's verifyApiKey on the same server: ${pairedRatio(uncached, peer).toFixed(1)}× uncached, ${pairedRatio(cached, peer).toFixed(1)}× cached (target >= 12×).`,
    )
  }
  const bare = row('bare Hono route, no auth')
  const fastestBearer = table.results.find(
    (r) => r.name.includes('bearerAuth') && r.name.includes('synchronous'),
  )?.perRound
  if (fastestBearer) {
    print(
      `Cached on the server: ${pairedRatio(cached, bare).toFixed(2)} of bare Hono (target >= 0.80), where Hono's own bearerAuth at its fastest (one static token, synchronous sha256) is ${pairedRatio(fastestBearer, bare).toFixed(2)}: the database-backed check runs at ${pairedRatio(cached, fastestBearer).toFixed(2)}× its rate. Ratios are taken round by round.`,
    )
  }
}

// Read from the bench's own node_modules: some packages' `exports` do not expose their package.json.
const version = (name: string) => {
  try {
    const file = new URL(`../node_modules/${name}/package.json`, import.meta.url)
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    return '?'
  }
}
const header = [
  '# Benchmark results',
  '',
  `Written by \`pnpm bench\` on ${new Date().toISOString().slice(0, 10)}.`,
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.release()}.`,
  `Node ${process.versions.node}; hono ${version('hono')}, koa ${version('koa')}, express ${version('express')}, drizzle-orm ${version('drizzle-orm')}, postgres ${version('postgres')}, @electric-sql/pglite ${version('@electric-sql/pglite')}, autocannon ${version('autocannon')}.`,
  'Load generator and servers (and the PostgreSQL server) share the machine: ratios within one run are the figures to read.',
]
// Alone, the listening-connection loss and the deadline take a minute where the whole verification part takes ten.
if (only === 'listen-loss') print(listenLossLine(await listenLossDelays(serverUrl)))
if (only === 'deadline') print(deadlineLine(await deadlineWaits(serverUrl)))

function deadlineLine({
  timeout,
  answered,
  median,
  worst,
}: Awaited<ReturnType<typeof deadlineWaits>>): string {
  return `Deadline while the server hangs under load (timeout ${timeout} ms, 60 lookups 25 ms apart through a proxy that stops passing anything): ${answered} of 60 answered 503, after a median of ${median.toFixed(1)} ms from the ask, at most ${worst.toFixed(1)} ms: the timeout plus ${(worst - timeout).toFixed(1)} ms (target: at most 100 ms).`
}

function listenLossLine(lost: Awaited<ReturnType<typeof listenLossDelays>>): string {
  const ms = ({ median, worst }: { median: number; worst: number }) =>
    `median ${median.toFixed(1)} ms, worst ${worst.toFixed(1)} ms`
  const figures = Object.entries(lost).map(
    ([driver, { fromKill, fromRevocation }]) =>
      `${driver}: from the kill ${ms(fromKill)}; from the revocation's return ${ms(fromRevocation)}`,
  )
  return `Revocation while the second instance's listening connection is lost (its LISTEN backend killed, the token revoked at once by the first; 10 trials per driver): ${figures.join('. ')}.`
}

if (!only) writeFileSync(new URL('../RESULTS.md', import.meta.url), `${[...header, ...out].join('\n')}\n`)
