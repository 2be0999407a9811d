import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { demoCredentials } from '@examples/shared'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// `pnpm demo` as a newcomer runs it: the built script, its own PGlite folder, real processes and ports.
const script = fileURLToPath(new URL('../dist/demo.js', import.meta.url))

interface Demo {
  readonly process: ChildProcess
  readonly output: () => string
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>
}

function run(env: Record<string, string>): Demo {
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: 'pipe' })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { process: child, output: () => output, exited }
}

// Waits on the line the demo prints once it serves (in hooks too, where expect.poll is not available).
async function started(demo: Demo): Promise<{ url: string; token: string }> {
  await new Promise<void>((resolve, reject) => {
    const check = () => {
      if (demo.output().includes('Ctrl-C to stop')) resolve()
    }
    demo.process.stdout?.on('data', check)
    demo.exited.then((code) => reject(new Error(`the demo exited (${code}): ${demo.output()}`)))
    check()
  })
  const url = /API-token page\s+(\S+)\//.exec(demo.output())?.[1] as string
  const token = /Bearer ([^"]+)"/.exec(demo.output())?.[1] as string
  return { url, token }
}

describe('pnpm demo', () => {
  const dataDir = join(mkdtempSync(join(tmpdir(), 'demo-')), 'demo')
  let first: Demo
  let running: { url: string; token: string }
  beforeAll(async () => {
    first = run({ DEMO_DATA_DIR: dataDir, PORT: '0' })
    running = await started(first)
  }, 90_000)
  afterAll(async () => {
    first.process.kill('SIGTERM')
    await first.exited
    rmSync(join(dataDir, '..'), { recursive: true, force: true })
  }, 30_000)

  it('refuses a second demo on the same database folder in one line, before opening it', async () => {
    const second = run({ DEMO_DATA_DIR: dataDir, PORT: '0' })
    expect(await second.exited).toBe(1)
    expect(second.output().trim()).toBe(
      `The demo database in ${dataDir} is in use by another demo (process ${first.process.pid}): stop that one first.`,
    )
  })

  it('names a free port when its own is taken, before opening the database', async () => {
    const port = Number(new URL(running.url).port)
    const other = run({ DEMO_DATA_DIR: join(dataDir, '..', 'other'), PORT: String(port) })
    expect(await other.exited).toBe(1)
    expect(other.output().trim()).toBe(`Port ${port} is in use: run PORT=${port + 1} pnpm demo`)
  })

  describe('stopped and started again', () => {
    let stoppedWith: number | null
    let stoppedOutput: string
    let again: { url: string; token: string }
    // The restart boots the database again: in a hook, never in a test's own time.
    beforeAll(async () => {
      first.process.kill('SIGTERM')
      stoppedWith = await first.exited
      stoppedOutput = first.output()
      first = run({ DEMO_DATA_DIR: dataDir, PORT: '0' })
      again = await started(first)
    }, 90_000)

    it('stopped cleanly', () => {
      expect(stoppedWith).toBe(0)
      expect(stoppedOutput).toContain('Stopped.')
    })

    it('replaced its token rather than adding one', async () => {
      const posts = (token: string) =>
        fetch(`${again.url}/api/posts`, { headers: { authorization: `Bearer ${token}` } }).then(
          (r) => r.status,
        )
      expect(await posts(again.token)).toBe(200)
      expect(await posts(running.token)).toBe(401)
    })

    it('keeps an audit trail in its database, which the page reads as the token’s activity', async () => {
      const used = await fetch(`${again.url}/api/posts`, {
        headers: { authorization: `Bearer ${again.token}`, 'user-agent': 'demo-test/1.0' },
      })
      expect(used.status).toBe(200)
      const session = await fetch(`${again.url}/session`, {
        method: 'POST',
        // As the page signs in: JSON, from the app's own origin.
        headers: { 'content-type': 'application/json', origin: again.url },
        body: JSON.stringify(demoCredentials),
      })
      expect(session.status).toBe(200)
      const cookie = session.headers
        .getSetCookie()
        .map((line) => line.split(';')[0])
        .join('; ')
      const id = again.token.split('|')[0] as string
      const answer = await fetch(`${again.url}/user/api-tokens/${id}/events`, {
        headers: { cookie, accept: 'application/json' },
      })
      expect(answer.status).toBe(200)
      const { events } = (await answer.json()) as {
        events: { action: string; tokenId: string; userAgent: string | null }[]
      }
      expect(events[0]).toMatchObject({ action: 'authenticated', tokenId: id, userAgent: 'demo-test/1.0' })
      expect(events.at(-1)).toMatchObject({ action: 'created', tokenId: id })
    })
  })
})
