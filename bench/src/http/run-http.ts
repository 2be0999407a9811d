import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { median } from '../measure.js'

/**
 * One HTTP scenario: a server process (`server.ts <args>`), and whether its requests rotate through every token the
 * server knows (`distinct`, the default) or repeat its first one (`one`). Every request carries a bearer token, bare
 * routes included (they ignore it), so the load generator does the same work in every row.
 */
export interface HttpScenario {
  readonly name: string
  readonly args: readonly string[]
  readonly tokens?: 'distinct' | 'one'
  /** Extra environment for the server process. */
  readonly env?: Readonly<Record<string, string>>
}

export interface HttpResult {
  readonly name: string
  /** Median requests per second over the rounds. */
  readonly requestsPerSecond: number
  /** Requests per second in each round, in order: for ratios taken round by round against a baseline. */
  readonly perRound: readonly number[]
  /** Median server CPU time per request, in microseconds (user + system, from /proc). */
  readonly cpuMicrosPerRequest: number
  /** Non-2xx answers seen in all rounds: must be 0, or the figure means nothing. */
  readonly errors: number
  /** Database statements the server sent per request, over all rounds. */
  readonly statementsPerRequest: number
}

const here = fileURLToPath(new URL('.', import.meta.url))
const CLOCK_TICKS = 100 // USER_HZ on Linux

// On a machine shared by the server and its load generator, each gets a core of its own where `taskset` can say
// so: otherwise the scheduler moves them about and a row's rate says as much about the neighbours as about it.
// Measured on two cores, a cached route against its bare route: 0.59, 0.64 and 0.90 unpinned in one series.
const PINNED = existsSync('/usr/bin/taskset') && cpus().length >= 2
function node(core: number, args: readonly string[]): [string, string[]] {
  return PINNED
    ? ['/usr/bin/taskset', ['-c', String(core), process.execPath, ...args]]
    : [process.execPath, [...args]]
}

interface Running {
  readonly child: ChildProcess
  readonly port: number
  /** The file of plain texts the server accepts, one per line. */
  readonly tokens: string
}

async function startServer(scenario: HttpScenario): Promise<Running> {
  const [command, args] = node(0, [`${here}server.js`, ...scenario.args])
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, NODE_ENV: 'production', ...scenario.env },
  })
  return new Promise((resolve, reject) => {
    let output = ''
    child.once('exit', (code) =>
      reject(new Error(`${scenario.name}: server exited with ${code} before it was ready`)),
    )
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const ready = /READY (\d+) (\S+)/.exec(output)
      if (ready) resolve({ child, port: Number(ready[1]), tokens: ready[2] as string })
    })
  })
}

function cpuTicks(pid: number): number {
  // Fields 14 and 15 of /proc/<pid>/stat: utime and stime, in clock ticks. The command name (field 2) may hold
  // spaces, so count from the closing parenthesis.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

async function serverStats(running: Running): Promise<{ requests: number; statements: number }> {
  const response = await fetch(`http://127.0.0.1:${running.port}/__stats`)
  return (await response.json()) as { requests: number; statements: number }
}

async function drive(running: Running, scenario: HttpScenario, seconds: number, connections: number) {
  const tokens = scenario.tokens === 'one' ? firstOnly(running.tokens) : running.tokens
  const args = [
    `${here}load.js`,
    `http://127.0.0.1:${running.port}/hit`,
    String(seconds),
    String(connections),
    tokens,
  ]
  const statsBefore = await serverStats(running)
  const before = cpuTicks(running.child.pid as number)
  const output = await new Promise<string>((resolve, reject) => {
    const load = spawn(...node(1, args), { stdio: ['ignore', 'pipe', 'ignore'] })
    let text = ''
    load.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()))
    load.once('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`autocannon exited with ${code}`)),
    )
  })
  const ticks = cpuTicks(running.child.pid as number) - before
  const statsAfter = await serverStats(running)
  const report = JSON.parse(output) as {
    requests: { total: number; average: number }
    non2xx: number
    errors: number
  }
  return {
    requestsPerSecond: report.requests.total / seconds,
    cpuMicrosPerRequest: ((ticks / CLOCK_TICKS) * 1e6) / Math.max(1, report.requests.total),
    errors: report.non2xx + report.errors,
    requests: statsAfter.requests - statsBefore.requests,
    statements: statsAfter.statements - statsBefore.statements,
  }
}

/**
 * Drives every scenario in interleaved rounds (A B C A B C …) with autocannon in its own process, so a noisy
 * neighbour slows all of them alike; medians over rounds. Each round starts the scenario's server afresh and
 * warms it before measuring: a Node server left idle for a minute or two served this load with a third more CPU per
 * request for the next 10 s or more (measured: 26–28 µs fresh, 33–39 µs after 100 s idle, same process kind), and
 * with every server kept alive between rounds each would idle for minutes.
 */
export async function runHttp(
  scenarios: readonly HttpScenario[],
  options: { rounds?: number; seconds?: number; connections?: number; warmupSeconds?: number } = {},
): Promise<HttpResult[]> {
  const rounds = options.rounds ?? 3
  const seconds = options.seconds ?? 5
  const connections = options.connections ?? 50
  const warmup = options.warmupSeconds ?? 3
  const samples = new Map<
    string,
    { rps: number[]; cpu: number[]; errors: number; requests: number; statements: number }
  >(scenarios.map((s) => [s.name, { rps: [], cpu: [], errors: 0, requests: 0, statements: 0 }]))
  for (let round = 0; round < rounds; round++) {
    for (const scenario of scenarios) {
      const running = await startServer(scenario)
      try {
        await drive(running, scenario, warmup, connections)
        const sample = await drive(running, scenario, seconds, connections)
        const entry = samples.get(scenario.name)
        if (entry) {
          entry.rps.push(sample.requestsPerSecond)
          entry.cpu.push(sample.cpuMicrosPerRequest)
          entry.errors += sample.errors
          entry.requests += sample.requests
          entry.statements += sample.statements
        }
      } finally {
        await stopServer(running)
      }
    }
  }
  return scenarios.map((s) => {
    const entry = samples.get(s.name) ?? { rps: [], cpu: [], errors: 0, requests: 0, statements: 0 }
    return {
      name: s.name,
      requestsPerSecond: median(entry.rps),
      perRound: entry.rps,
      cpuMicrosPerRequest: median(entry.cpu),
      errors: entry.errors,
      statementsPerRequest: entry.statements / Math.max(1, entry.requests),
    }
  })
}

function firstOnly(file: string): string {
  const one = join(tmpdir(), `jetstream-bench-one-${process.pid}.txt`)
  writeFileSync(one, readFileSync(file, 'utf8').split('\n')[0] as string)
  return one
}

// SIGTERM lets the server close its database clients; one that has not exited within 5 s is killed.
async function stopServer({ child }: Running): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}
