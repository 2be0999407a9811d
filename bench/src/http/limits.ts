import { pairedDifference, pairedRatio } from '../measure.js'
import { limitsInProcess } from './limits-in-process.js'
import { runHttp } from './run-http.js'

const VARIANTS = [
  { name: 'cached Hono route', extra: '' },
  { name: 'cached Hono route + rate limits in memory', extra: 'limit-memory' },
  { name: 'cached Hono route + OpenTelemetry tracing, no exporter', extra: 'traced' },
  { name: 'cached Hono route + rate limits in Redis', extra: 'limit-redis' },
] as const

/**
 * What rate limits and tracing cost the cached route (Hono, drizzle on PGlite, cached): the route alone, with the
 * memory limiter, with tracing on (no exporter), and with the Redis limiter. Measured twice: over HTTP, each its
 * own server process under the same load, interleaved (the issue's throughput figure); and in one process
 * (`limits-in-process.ts`), where the CPU each adds per request stands clear of the machine's noise.
 */
export async function benchLimits(): Promise<{ rows: string[]; ratios: { name: string; ratio: number }[] }> {
  const route = 'drizzle-pglite-cached'
  // Five rounds rather than three: the costs measured are a few per cent, the machine's swings several times that.
  const results = await runHttp(
    VARIANTS.map(({ name, extra }) => ({ name, args: ['hono', extra === '' ? route : `${route}+${extra}`] })),
    { rounds: 5 },
  )
  const inProcess = await limitsInProcess(VARIANTS)
  const base = results[0]?.perRound ?? []
  const baseCpu = inProcess[0]?.cpuPerRound ?? []
  const httpCpu = results[0]?.cpuMicrosPerRequest ?? Number.NaN
  const ratios = results.map((r) => ({ name: r.name, ratio: pairedRatio(r.perRound, base) }))
  const rows = results.map((r, i) => {
    const added = pairedDifference(inProcess[i]?.cpuPerRound ?? [], baseCpu)
    return `| ${r.name} | ${Math.round(r.requestsPerSecond).toLocaleString('en-US')}/s | ${ratios[i]?.ratio.toFixed(2)} | ${r.cpuMicrosPerRequest.toFixed(1)} µs | ${r.errors} | ${(inProcess[i]?.cpuMicrosPerOp ?? 0).toFixed(1)} µs | ${i === 0 ? '–' : `+${added.toFixed(1)} µs (${((added / httpCpu) * 100).toFixed(0)}%)`} |`
  })
  return { rows, ratios }
}
