import { pairedRatio } from '../measure.js'
import { runHttp } from './run-http.js'

/**
 * Each framework's route behind `auth` + `abilities('read')` on the memory store, against the same framework's
 * bare route, in one interleaved run.
 */
export async function benchAdapters(): Promise<{
  rows: string[]
  ratios: { framework: string; ratio: number }[]
}> {
  const frameworks = ['hono', 'koa', 'express'] as const
  const results = await runHttp(
    frameworks.flatMap((framework) => [
      { name: `${framework} bare`, args: [framework, 'bare'] },
      { name: `${framework} + auth + abilities (memory store)`, args: [framework, 'memory'] },
    ]),
    // Five rounds rather than three: a ratio of 0.82 in one run was 0.90 in the next with three.
    { rounds: 5 },
  )
  const rows: string[] = []
  const ratios: { framework: string; ratio: number }[] = []
  for (const framework of frameworks) {
    const bare = results.find((r) => r.name === `${framework} bare`)
    const protectedRoute = results.find((r) => r.name.startsWith(`${framework} +`))
    if (!bare || !protectedRoute) continue
    // Round by round: each round's protected route against the same round's bare one.
    const ratio = pairedRatio(protectedRoute.perRound, bare.perRound)
    ratios.push({ framework, ratio })
    for (const [result, r] of [
      [bare, 1],
      [protectedRoute, ratio],
    ] as const) {
      rows.push(
        `| ${result.name} | ${Math.round(result.requestsPerSecond).toLocaleString('en-US')}/s | ${r.toFixed(2)} | ${result.cpuMicrosPerRequest.toFixed(1)} µs | ${result.errors} |`,
      )
    }
  }
  return { rows, ratios }
}
