import { runHttp } from './run-http.js'

/**
 * What rate limits and tracing cost the cached route (Hono, drizzle on PGlite, cached): the route alone, with the
 * memory limiter, with tracing on (no exporter), and with the Redis limiter, each its own server process under the
 * same load, interleaved.
 */
export async function benchLimits(): Promise<{ rows: string[]; ratios: { name: string; ratio: number }[] }> {
  const route = 'drizzle-pglite-cached'
  const results = await runHttp([
    { name: 'cached Hono route', args: ['hono', route] },
    { name: 'cached Hono route + rate limits in memory', args: ['hono', `${route}+limit-memory`] },
    { name: 'cached Hono route + OpenTelemetry tracing, no exporter', args: ['hono', `${route}+traced`] },
    { name: 'cached Hono route + rate limits in Redis', args: ['hono', `${route}+limit-redis`] },
  ])
  const base = results.find((r) => r.name === 'cached Hono route')?.requestsPerSecond ?? Number.NaN
  const ratios = results.map((r) => ({ name: r.name, ratio: r.requestsPerSecond / base }))
  const rows = results.map(
    (r, i) =>
      `| ${r.name} | ${Math.round(r.requestsPerSecond).toLocaleString('en-US')}/s | ${ratios[i]?.ratio.toFixed(2)} | ${r.cpuMicrosPerRequest.toFixed(1)} µs | ${r.errors} |`,
  )
  return { rows, ratios }
}
