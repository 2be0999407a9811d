/**
 * Interleaved micro-benchmarks: each round runs every scenario for a slice of time (A B C A B C …), so a noisy
 * neighbour slows all of them alike; the figures kept are medians over rounds. Written here rather than taken
 * from tinybench, which runs each task to the end before the next.
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
  /** Median CPU time of this process per operation, in microseconds (steadier than the rate on a busy machine). */
  readonly cpuMicrosPerOp: number
  /** The CPU time per operation in each round, in order: for differences taken round by round. */
  readonly cpuPerRound: readonly number[]
}

export interface MeasureOptions {
  /** Rounds of A B C …; the median is kept. Default 7. */
  readonly rounds?: number
  /** Milliseconds each scenario runs per round. Default 300. */
  readonly sliceMs?: number
  /** Operations kept in flight at once (database scenarios want several). Default 1. */
  readonly concurrency?: number
  /** Operations per clock read. Default 64. */
  readonly batch?: number
}

export async function measure(
  scenarios: readonly Scenario[],
  options: MeasureOptions = {},
): Promise<Measured[]> {
  const rounds = options.rounds ?? 7
  const sliceMs = options.sliceMs ?? 300
  const rates = new Map<string, number[]>(scenarios.map((s) => [s.name, []]))
  const cpu = new Map<string, number[]>(scenarios.map((s) => [s.name, []]))
  for (const scenario of scenarios) await runFor(scenario, 50, options) // warm up the JIT for every path first
  for (let round = 0; round < rounds; round++) {
    for (const scenario of scenarios) {
      const sample = await runFor(scenario, sliceMs, options)
      rates.get(scenario.name)?.push(sample.opsPerSecond)
      cpu.get(scenario.name)?.push(sample.cpuMicrosPerOp)
    }
  }
  return scenarios.map((s) => ({
    name: s.name,
    opsPerSecond: median(rates.get(s.name) ?? []),
    cpuMicrosPerOp: median(cpu.get(s.name) ?? []),
    cpuPerRound: cpu.get(s.name) ?? [],
  }))
}

async function runFor(
  scenario: Scenario,
  ms: number,
  options: MeasureOptions,
): Promise<{ opsPerSecond: number; cpuMicrosPerOp: number }> {
  const batch = options.batch ?? 64
  let operations = 0
  const cpuStart = process.cpuUsage()
  const start = performance.now()
  const end = start + ms
  const worker = async () => {
    while (performance.now() < end) {
      // Batches keep the clock reads out of the figure.
      for (let i = 0; i < batch; i++) {
        const result = scenario.run()
        if (result instanceof Promise) await result
      }
      operations += batch
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 1 }, worker))
  const elapsed = performance.now() - start
  const used = process.cpuUsage(cpuStart)
  return {
    opsPerSecond: (operations * 1000) / elapsed,
    cpuMicrosPerOp: (used.user + used.system) / operations,
  }
}

/**
 * The median over rounds of each round's difference `row - base`: what a variant adds, set against the baseline
 * of its own round.
 *
 * @example
 * ```ts
 * pairedDifference(traced.cpuPerRound, route.cpuPerRound) // +3.1 µs
 * ```
 */
export function pairedDifference(row: readonly number[], base: readonly number[]): number {
  return median(row.map((value, round) => value - (base[round] as number)))
}

/**
 * The median over rounds of each round's ratio `row / base`: a spell that slows one round slows both sides of its
 * ratio, where a ratio of medians would set one round's base against another's row.
 *
 * @example
 * ```ts
 * pairedRatio(traced.perRound, route.perRound) // 0.93
 * ```
 */
export function pairedRatio(row: readonly number[], base: readonly number[]): number {
  return median(row.map((value, round) => value / (base[round] as number)))
}

/**
 * The middle value (the mean of the two middle ones for an even count).
 *
 * @example
 * ```ts
 * median([3, 1, 2]) // 2
 * ```
 */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2
}

export function formatRate(opsPerSecond: number): string {
  return `${Math.round(opsPerSecond).toLocaleString('en-US')}/s`
}
