/**
 * Interleaved micro-benchmarks: each round runs every scenario for a slice of time (A B C A B C …), so a noisy
 * neighbour slows all of them alike; the figure kept is the median over rounds.
 */
export interface Scenario {
  readonly name: string
  /** One operation. Awaited when it returns a promise. */
  readonly run: () => unknown
}

export interface Measured {
  readonly name: string
  /** Median operations per second over the rounds. */
  readonly opsPerSecond: number
}

export async function measure(
  scenarios: readonly Scenario[],
  options: { rounds?: number; sliceMs?: number } = {},
): Promise<Measured[]> {
  const rounds = options.rounds ?? 7
  const sliceMs = options.sliceMs ?? 300
  const samples = new Map<string, number[]>(scenarios.map((s) => [s.name, []]))
  for (const scenario of scenarios) await runFor(scenario, 50) // warm up the JIT for every path first
  for (let round = 0; round < rounds; round++) {
    for (const scenario of scenarios) samples.get(scenario.name)?.push(await runFor(scenario, sliceMs))
  }
  return scenarios.map((s) => ({ name: s.name, opsPerSecond: median(samples.get(s.name) ?? []) }))
}

async function runFor(scenario: Scenario, ms: number): Promise<number> {
  let operations = 0
  const start = performance.now()
  const end = start + ms
  while (performance.now() < end) {
    // Batches of 64 keep the clock reads out of the figure.
    for (let i = 0; i < 64; i++) {
      const result = scenario.run()
      if (result instanceof Promise) await result
    }
    operations += 64
  }
  return (operations * 1000) / (performance.now() - start)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

export function formatRate(opsPerSecond: number): string {
  return `${Math.round(opsPerSecond).toLocaleString('en-US')}/s`
}
