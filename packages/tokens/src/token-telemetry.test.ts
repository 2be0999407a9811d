import { existsSync, readFileSync } from 'node:fs'
import { metrics, trace } from '@opentelemetry/api'
import { afterEach, describe, expect, it } from 'vitest'
import { MisconfigurationError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { telemetryHarness } from './test-support/telemetry-harness.js'
import { createTokens, type TokenServiceOptions, useToken, verifyToken } from './token-service.js'
import type { ActionEvent, AuthenticationEvent, FlushEvent, TokenTelemetry } from './token-telemetry.js'

/** A TokenTelemetry that keeps every event, as plain copies. */
function recorder() {
  const authentications: AuthenticationEvent[] = []
  const actions: ActionEvent[] = []
  const flushes: FlushEvent[] = []
  const telemetry: TokenTelemetry = {
    authentication: (event) => authentications.push({ ...event }),
    action: (event) => actions.push({ ...event }),
    flush: (event) => flushes.push({ ...event }),
  }
  return { telemetry, authentications, actions, flushes }
}

/** Spends `ms` of real time without yielding: a store that is slow, with no timer in the test. */
function busy(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until) {
    // waiting
  }
}

function setup(options: Partial<TokenServiceOptions> = {}) {
  const recorded = recorder()
  const store = options.store ?? new MemoryTokenStore()
  const tokens = createTokens({ ...options, store, telemetry: recorded.telemetry })
  return { ...recorded, store, tokens }
}

describe('TokenTelemetry: what the service reports', () => {
  it('reports an accepted token with its times, the store wait, and no cache', async () => {
    const store = new MemoryTokenStore()
    const { tokens, authentications } = setup({ store })
    const { token, plainTextToken } = await tokens.create('42', 'CI')
    const find = store.findById.bind(store)
    store.findById = (id) => {
      busy(3)
      return find(id)
    }
    await tokens.authenticate(plainTextToken)
    expect(authentications).toEqual([
      {
        startTime: expect.any(Number),
        endTime: expect.any(Number),
        outcome: 'accepted',
        reason: null,
        cacheHit: null,
        storeMs: expect.any(Number),
        tokenId: token.id,
        error: undefined,
      },
    ])
    const [event] = authentications as [AuthenticationEvent]
    expect(event.storeMs).toBeGreaterThanOrEqual(3)
    expect(event.endTime - event.startTime).toBeGreaterThanOrEqual(event.storeMs ?? Number.NaN)
    expect(Math.abs(event.startTime - Date.now())).toBeLessThan(1_000)
  })

  it('measures the wait for a store that answers with a promise', async () => {
    const store = new MemoryTokenStore()
    const { tokens, authentications } = setup({ store })
    const { plainTextToken } = await tokens.create('42', 'CI')
    const find = store.findById.bind(store)
    let answer: () => void = () => {}
    store.findById = (id) => new Promise((resolve) => (answer = () => resolve(find(id))))
    const pending = tokens.authenticate(plainTextToken)
    busy(3)
    answer()
    expect(await pending).not.toBeNull()
    expect(authentications[0]?.storeMs).toBeGreaterThanOrEqual(3)
  })

  it('reports a refusal with the `failed` hook’s reason and id, and no store wait when none was asked', async () => {
    const failed: unknown[] = []
    const { tokens, authentications } = setup({ on: { failed: (event) => failed.push(event) } })
    const { token } = await tokens.create('42', 'CI')
    const other = await tokens.create('42', 'other')
    await tokens.authenticate('nope')
    await tokens.authenticate(`${token.id}|${other.plainTextToken.split('|')[1]}`)
    expect(failed).toEqual([
      { reason: 'malformed', tokenId: null },
      { reason: 'mismatch', tokenId: token.id },
    ])
    expect(
      authentications.map(({ outcome, reason, tokenId, storeMs }) => [outcome, reason, tokenId, storeMs]),
    ).toEqual([
      ['refused', 'malformed', null, null],
      ['refused', 'mismatch', token.id, expect.any(Number)],
    ])
  })

  it('keeps the answer synchronous where no lookup is pending, telemetry or not', async () => {
    const { tokens, authentications } = setup({ cache: true })
    const { plainTextToken } = await tokens.create('42', 'CI')
    const first = verifyToken(tokens, plainTextToken)
    expect(first).not.toBeInstanceOf(Promise) // the memory store answers at once
    const second = verifyToken(tokens, plainTextToken)
    expect(second).not.toBeInstanceOf(Promise) // a cache hit
    expect(verifyToken(tokens, 'nope')).toBeNull()
    // A verified token's authentication ends when it is used.
    expect(authentications.map((event) => event.outcome)).toEqual(['refused'])
    useToken(tokens, first as PersonalAccessToken)
    useToken(tokens, second as PersonalAccessToken, false)
    expect(authentications.map(({ outcome, reason, cacheHit }) => [outcome, reason, cacheHit])).toEqual([
      ['refused', 'malformed', null],
      ['accepted', null, false],
      ['refused', 'rejected', true],
    ])
  })

  it('reports a token whose owner is not found as refused, with no use and no hook', async () => {
    const used: string[] = []
    const { tokens, authentications, flushes } = setup({
      on: { authenticated: (token) => used.push(token.id) },
    })
    const { plainTextToken } = await tokens.create('42', 'CI')
    const token = verifyToken(tokens, plainTextToken) as PersonalAccessToken
    expect(useToken(tokens, token, false)).toBe(token)
    // Once ended, it is not reported again.
    useToken(tokens, token, false)
    await tokens.close()
    expect(used).toEqual([])
    expect(flushes).toEqual([])
    expect(authentications).toMatchObject([{ outcome: 'refused', reason: 'rejected', tokenId: token.id }])
  })

  it('reports a store failure as an error, and a cache hit as no store wait', async () => {
    const store = new MemoryTokenStore()
    const { tokens, authentications } = setup({ store, cache: true })
    const { plainTextToken } = await tokens.create('42', 'CI')
    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)
    const other = await tokens.create('42', 'other')
    store.findById = () => {
      throw new Error('connection refused')
    }
    await expect(tokens.authenticate(other.plainTextToken)).rejects.toMatchObject({
      code: 'storage_unavailable',
    })
    expect(authentications.map(({ outcome, cacheHit, storeMs }) => [outcome, cacheHit, storeMs])).toEqual([
      ['accepted', false, expect.any(Number)],
      ['accepted', true, null],
      ['error', false, expect.any(Number)],
    ])
    expect(authentications[2]?.error).toMatchObject({ name: 'StorageUnavailableError' })
    expect(authentications[2]?.tokenId).toBe(other.token.id)
  })

  it('reports each management action with its outcome, and each flush with its size', async () => {
    const { tokens, actions, flushes } = setup()
    const { token, plainTextToken } = await tokens.create('42', 'CI')
    await tokens.authenticate(plainTextToken)
    await tokens.list('42')
    await tokens.revoke('42', '999')
    await expect(tokens.update('42', token.id, { name: '' })).rejects.toMatchObject({ code: 'invalid_input' })
    await tokens.close()
    expect(actions.map(({ action, outcome, tokenId, count }) => [action, outcome, tokenId, count])).toEqual([
      ['create', 'ok', token.id, null],
      ['list', 'ok', null, 1],
      // The id given only once it named a token the action found: a refused or unknown one may be anything.
      ['revoke', 'not_found', null, null],
      ['update', 'refused', null, null],
    ])
    for (const event of actions) expect(event.endTime).toBeGreaterThanOrEqual(event.startTime)
    expect(flushes).toEqual([
      { startTime: expect.any(Number), endTime: expect.any(Number), size: 1, error: undefined },
    ])
  })

  it('reports a telemetry that throws to `on.error`, and goes on', async () => {
    const errors: unknown[] = []
    const broken = new Error('exporter down')
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      on: { error: (error) => errors.push(error) },
      telemetry: {
        authentication: () => {
          throw broken
        },
        action: () => {
          throw broken
        },
        flush: () => {
          throw broken
        },
      },
    })
    const { plainTextToken } = await tokens.create('42', 'CI')
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    expect(await tokens.authenticate('nope')).toBeNull()
    await tokens.close()
    expect(errors).toEqual([broken, broken, broken, broken])
  })

  it('refuses a telemetry without its methods, when the service is built', () => {
    expect(() => createTokens({ store: new MemoryTokenStore(), telemetry: {} as TokenTelemetry })).toThrow(
      MisconfigurationError,
    )
  })
})

describe('TokenTelemetry: no cost without it', () => {
  afterEach(() => {
    trace.disable()
    metrics.disable()
  })

  it('records nothing without the option, even with an OpenTelemetry SDK registered', async () => {
    const harness = telemetryHarness()
    trace.setGlobalTracerProvider(harness.tracerProvider)
    metrics.setGlobalMeterProvider(harness.meterProvider)
    try {
      const tokens = createTokens({ store: new MemoryTokenStore(), cache: true })
      const { token, plainTextToken } = await tokens.create('42', 'CI')
      expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      expect(await tokens.authenticate('nope')).toBeNull()
      expect(await tokens.list('42')).toHaveLength(1)
      expect(await tokens.revoke('42', token.id)).toBe(true)
      await tokens.close()
      expect(await harness.spans()).toEqual([])
      const points = (await harness.export()).flatMap((resource) =>
        resource.scopeMetrics.flatMap((scope) =>
          scope.metrics.flatMap((metric): unknown[] => metric.dataPoints),
        ),
      )
      expect(points).toEqual([])
    } finally {
      await harness.shutdown()
    }
  })

  it('keeps `@opentelemetry/api` out of the main and adapter entries: only `/opentelemetry` imports it', () => {
    const dist = new URL('../dist/', import.meta.url)
    expect(existsSync(new URL('index.js', dist)), 'build the package first (pnpm build)').toBe(true)
    // Every module an entry loads, following relative imports through the built files, and what else it imports.
    const external = (entry: string): Set<string> => {
      const seen = new Set<string>()
      const packages = new Set<string>()
      const visit = (file: URL) => {
        if (seen.has(file.href)) return
        seen.add(file.href)
        // Comments go first: a JSDoc example names entries it does not import.
        const source = readFileSync(file, 'utf8')
          .replace(/\/\*[\s\S]*?\*\//g, '')
          .replace(/^\s*\/\/.*$/gm, '')
        for (const [, specifier] of source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
          if (specifier === undefined) continue
          if (specifier.startsWith('.')) visit(new URL(specifier, file))
          else packages.add(specifier)
        }
      }
      visit(new URL(entry, dist))
      return packages
    }
    // What the package depends on may be imported; a peer (optional or not) may not, but by the entry made for it.
    const { dependencies } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as {
      dependencies: Record<string, string>
    }
    const depended = (specifier: string) =>
      Object.keys(dependencies).some((name) => specifier === name || specifier.startsWith(`${name}/`))
    const others = (packages: Set<string>) => [...packages].filter((specifier) => !depended(specifier))
    expect(others(external('index.js'))).toEqual([])
    expect(others(external('adapter.js'))).toEqual([])
    expect(others(external('opentelemetry.js'))).toEqual(['@opentelemetry/api'])
  })
})
