import { readFileSync } from 'node:fs'
import { metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { ReadableSpan } from '@opentelemetry/sdk-trace'
import { afterEach, describe, expect, it } from 'vitest'
import { ForbiddenError, StorageUnavailableError } from './errors.js'
import { HttpAnswer } from './http-answer.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { openTelemetry } from './opentelemetry.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { RequestGuard } from './request-guard.js'
import { type TelemetryHarness, telemetryHarness } from './test-support/telemetry-harness.js'
import { createTokens, type TokenServiceOptions } from './token-service.js'

const harnesses: TelemetryHarness[] = []
afterEach(async () => {
  for (const harness of harnesses.splice(0)) await harness.shutdown()
})

/** A token service reporting to a fresh SDK, on a memory store (or the one given), with a clock tests can move. */
function setup(options: Partial<TokenServiceOptions> & { recordTokenId?: boolean } = {}) {
  const harness = telemetryHarness()
  harnesses.push(harness)
  const { recordTokenId, ...serviceOptions } = options
  const clock = { now: Date.parse('2026-06-01T12:00:00Z') }
  const store = serviceOptions.store ?? new MemoryTokenStore()
  const errors: unknown[] = []
  const tokens = createTokens({
    now: () => new Date(clock.now),
    on: { error: (error) => errors.push(error) },
    ...serviceOptions,
    store,
    telemetry: openTelemetry({
      tracer: harness.tracerProvider.getTracer('test'),
      meter: harness.meterProvider.getMeter('test'),
      ...(recordTokenId !== undefined && { recordTokenId }),
    }),
  })
  return { harness, tokens, store, clock, errors }
}

const named = (spans: ReadableSpan[], name: string) => spans.filter((span) => span.name === name)

/** The one authentication span, checked to be the only one. */
async function authenticationSpan(harness: TelemetryHarness): Promise<ReadableSpan> {
  const spans = named(await harness.spans(), 'jetstream_tokens.authenticate')
  expect(spans).toHaveLength(1)
  return spans[0] as ReadableSpan
}

/** A metric's points as `[attributes, value]`, for exact comparison. */
async function pointsOf(harness: TelemetryHarness, name: string): Promise<[object, unknown][]> {
  const metric = (await harness.metrics()).get(name)
  return (metric?.points ?? []).map((point) => [point.attributes, point.value])
}

describe('openTelemetry: authentication spans and metrics', () => {
  it('records an accepted token: span, attributes, times, and one count', async () => {
    const { harness, tokens } = setup()
    const { plainTextToken } = await tokens.create('42', 'CI')
    const before = performance.timeOrigin + performance.now()
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    const after = performance.timeOrigin + performance.now()

    const span = await authenticationSpan(harness)
    expect(span.kind).toBe(SpanKind.INTERNAL)
    expect(span.status.code).toBe(SpanStatusCode.UNSET)
    expect(span.attributes).toEqual({
      'jetstream_tokens.outcome': 'accepted',
      'jetstream_tokens.store.duration_ms': expect.any(Number),
    })
    // Real start and end times, within the call.
    const millis = ([seconds, nanos]: [number, number]) => seconds * 1000 + nanos / 1e6
    expect(millis(span.startTime)).toBeGreaterThanOrEqual(before - 1)
    expect(millis(span.endTime)).toBeLessThanOrEqual(after + 1)
    expect(millis(span.endTime)).toBeGreaterThanOrEqual(millis(span.startTime))

    expect(await pointsOf(harness, 'jetstream_tokens.authentications')).toEqual([
      [{ 'jetstream_tokens.outcome': 'accepted' }, 1],
    ])
    const metric = (await harness.metrics()).get('jetstream_tokens.authentications')
    expect(metric?.unit).toBe('{authentication}')
  })

  it('records each refusal with its reason, and no error status', async () => {
    const { harness, tokens, clock } = setup({ idleTimeout: 60 })
    const good = await tokens.create('42', 'good')
    const expiring = await tokens.create('42', 'expiring', undefined, {
      expiresAt: new Date(clock.now + 60_000),
    })
    const [id, secret] = good.plainTextToken.split('|') as [string, string]
    const otherSecret = expiring.plainTextToken.split('|')[1]
    expect(await tokens.authenticate('not a token')).toBeNull() // malformed
    expect(await tokens.authenticate(`999|${secret}`)).toBeNull() // unknown
    expect(await tokens.authenticate(`${id}|${otherSecret}`)).toBeNull() // mismatch
    clock.now += 2 * 60_000
    expect(await tokens.authenticate(expiring.plainTextToken)).toBeNull() // expired
    clock.now += 3 * 3_600_000
    expect(await tokens.authenticate(good.plainTextToken)).toBeNull() // idle
    // `authenticateUsing` has the last word, over expiry too: its own service.
    const vetoing = setup({ authenticateUsing: () => false })
    const vetoed = await vetoing.tokens.create('42', 'vetoed')
    expect(await vetoing.tokens.authenticate(vetoed.plainTextToken)).toBeNull() // rejected

    const reasons = []
    for (const { spans } of [harness, vetoing.harness]) {
      for (const span of named(await spans(), 'jetstream_tokens.authenticate')) {
        expect(span.status.code).toBe(SpanStatusCode.UNSET)
        expect(span.attributes['jetstream_tokens.outcome']).toBe('refused')
        reasons.push(span.attributes['jetstream_tokens.reason'])
      }
    }
    expect(reasons).toEqual(['malformed', 'unknown', 'mismatch', 'expired', 'idle', 'rejected'])
    const counted = [
      ...(await pointsOf(harness, 'jetstream_tokens.authentications')),
      ...(await pointsOf(vetoing.harness, 'jetstream_tokens.authentications')),
    ]
    expect(counted).toEqual(
      reasons.map((reason) => [
        { 'jetstream_tokens.outcome': 'refused', 'jetstream_tokens.reason': reason },
        1,
      ]),
    )
  })

  it('tells a cache hit from a miss: the hit waits for no store', async () => {
    const { harness, tokens } = setup({ cache: true })
    const { plainTextToken } = await tokens.create('42', 'CI')
    await tokens.authenticate(plainTextToken)
    await tokens.authenticate(plainTextToken)

    const [miss, hit] = named(await harness.spans(), 'jetstream_tokens.authenticate')
    expect(miss?.attributes['jetstream_tokens.cache.hit']).toBe(false)
    expect(hit?.attributes).toEqual({
      'jetstream_tokens.outcome': 'accepted',
      'jetstream_tokens.cache.hit': true,
    })
    expect(await pointsOf(harness, 'jetstream_tokens.cache.lookups')).toEqual([
      [{ 'jetstream_tokens.cache.hit': false }, 1],
      [{ 'jetstream_tokens.cache.hit': true }, 1],
    ])
    // Only the miss asked the store.
    expect(await pointsOf(harness, 'jetstream_tokens.store.duration')).toEqual([
      [{ 'jetstream_tokens.store.operation': 'find' }, expect.objectContaining({ count: 1 })],
    ])
    expect((await harness.metrics()).get('jetstream_tokens.store.duration')?.unit).toBe('s')
  })

  it('marks a store outage as an error, with the error’s own message', async () => {
    const store = new MemoryTokenStore()
    const { harness, tokens } = setup({ store })
    const { plainTextToken } = await tokens.create('42', 'CI')
    store.findById = () => Promise.reject(new Error('connection refused'))

    await expect(tokens.authenticate(plainTextToken)).rejects.toMatchObject({ code: 'storage_unavailable' })

    const span = await authenticationSpan(harness)
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'The token store failed to find.' })
    expect(span.attributes['jetstream_tokens.outcome']).toBe('error')
    expect(span.attributes['error.type']).toBe('StorageUnavailableError')
    expect(span.attributes['jetstream_tokens.store.duration_ms']).toEqual(expect.any(Number))
    expect(await pointsOf(harness, 'jetstream_tokens.authentications')).toEqual([
      [{ 'jetstream_tokens.outcome': 'error', 'error.type': 'StorageUnavailableError' }, 1],
    ])
    expect(await pointsOf(harness, 'jetstream_tokens.store.duration')).toEqual([
      [
        { 'jetstream_tokens.store.operation': 'find', 'error.type': 'StorageUnavailableError' },
        expect.objectContaining({ count: 1 }),
      ],
    ])
  })

  it('keeps an app’s own error message out of the span status', async () => {
    const { harness, tokens } = setup({
      authenticateUsing: () => {
        throw new Error('user lookup failed for a secret-looking thing')
      },
    })
    const { plainTextToken } = await tokens.create('42', 'CI')
    await expect(tokens.authenticate(plainTextToken)).rejects.toThrow('user lookup failed')
    const span = await authenticationSpan(harness)
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR })
    expect(span.attributes['error.type']).toBe('Error')
  })

  it('keeps a custom store’s own message out of the span status, though its error is StorageUnavailableError', async () => {
    const store = new MemoryTokenStore()
    const { harness, tokens } = setup({ store })
    const { plainTextToken } = await tokens.create('42', 'CI')
    store.findById = () =>
      Promise.reject(new StorageUnavailableError('redis://app:hunter2@cache.internal:6379 is down'))
    await expect(tokens.authenticate(plainTextToken)).rejects.toMatchObject({ code: 'storage_unavailable' })
    const span = await authenticationSpan(harness)
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR })
    expect(span.attributes['error.type']).toBe('StorageUnavailableError')
  })

  it('keeps the message of an app’s error out even when it is one of this package’s classes, and its name bounded', async () => {
    let thrown: Error = new ForbiddenError('token "deploy" of ada@example.com blocked')
    const { harness, tokens } = setup({
      authenticateUsing: () => {
        throw thrown
      },
    })
    const { plainTextToken } = await tokens.create('42', 'CI')
    await expect(tokens.authenticate(plainTextToken)).rejects.toBe(thrown)
    const span = await authenticationSpan(harness)
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR })
    // An app's error class named per token would make a metric series per token.
    thrown = Object.assign(new Error('x'), { name: 'Err-7' })
    await expect(tokens.authenticate(plainTextToken)).rejects.toBe(thrown)
    const types = (await pointsOf(harness, 'jetstream_tokens.authentications')).map(
      ([a]) => (a as Record<string, unknown>)['error.type'],
    )
    expect(types).toContain('ForbiddenError')
    expect(types).toContain('_OTHER')
    expect(types).not.toContain('Err-7')
  })

  it('records the token id only when asked to', async () => {
    const quiet = setup()
    const created = await quiet.tokens.create('42', 'CI')
    await quiet.tokens.authenticate(created.plainTextToken)
    for (const span of await quiet.harness.spans()) {
      expect(span.attributes).not.toHaveProperty('jetstream_tokens.token.id')
    }

    const open = setup({ recordTokenId: true })
    const { token, plainTextToken } = await open.tokens.create('42', 'CI')
    const other = await open.tokens.create('42', 'other')
    await open.tokens.authenticate(plainTextToken)
    await open.tokens.authenticate(`${token.id}|${other.plainTextToken.split('|')[1]}`) // refused: mismatch
    const spans = named(await open.harness.spans(), 'jetstream_tokens.authenticate')
    expect(spans.map((span) => span.attributes['jetstream_tokens.token.id'])).toEqual([token.id, token.id])
    // Never on a metric: an id per series would be unbounded.
    for (const [attributes] of await pointsOf(open.harness, 'jetstream_tokens.authentications')) {
      expect(attributes).not.toHaveProperty('jetstream_tokens.token.id')
    }
    // A plain text, or its secret alone (which fits an id's form), given where an id goes (a mistake of the app's,
    // or a client's DELETE /user/api-tokens/<secret>) is no token's id: never on a span.
    const secret = plainTextToken.split('|')[1] as string
    expect(await open.tokens.revoke('42', plainTextToken)).toBe(false)
    expect(await open.tokens.revoke('42', secret)).toBe(false)
    await expect(open.tokens.rotate('42', secret)).resolves.toBeNull()
    await expect(open.tokens.update('42', secret, { name: 'x' })).resolves.toBeNull()
    const mistaken = (await open.harness.spans()).filter((span) =>
      ['jetstream_tokens.revoke', 'jetstream_tokens.rotate', 'jetstream_tokens.update'].includes(span.name),
    )
    expect(
      mistaken.map((span) => [
        span.name,
        span.attributes['jetstream_tokens.outcome'],
        span.attributes['jetstream_tokens.token.id'],
      ]),
    ).toEqual([
      ['jetstream_tokens.revoke', 'not_found', undefined],
      ['jetstream_tokens.revoke', 'not_found', undefined],
      ['jetstream_tokens.rotate', 'not_found', undefined],
      ['jetstream_tokens.update', 'not_found', undefined],
    ])
    expect(JSON.stringify(mistaken.map((span) => span.attributes))).not.toContain(secret)
  })
})

describe('openTelemetry: authentications through the auth middleware', () => {
  interface Request {
    readonly authorization?: string
  }
  const users = new Map([['42', { id: '42' }]])

  function guarded(options: Partial<TokenServiceOptions> = {}) {
    const built = setup(options)
    const guard = new RequestGuard(
      built.tokens,
      { user: (token: PersonalAccessToken) => users.get(token.owner.id) ?? null },
      {
        method: () => 'GET',
        header: (request: Request, name) => (name === 'authorization' ? request.authorization : undefined),
        address: () => '192.0.2.1',
      },
    )
    return { ...built, guard }
  }

  it('records one authentication per request with rate limits on, which look at the token before the store', async () => {
    const { harness, tokens, guard } = guarded({ cache: true, rateLimit: { limit: 100, window: 60 } })
    const { plainTextToken } = await tokens.create('42', 'CI')
    const [id] = plainTextToken.split('|')
    const other = await tokens.create('42', 'other')
    const wrong = `${id}|${other.plainTextToken.split('|')[1]}`
    for (const token of [plainTextToken, plainTextToken, wrong, 'nope']) {
      await guard.resolve({ authorization: `Bearer ${token}` })
    }
    const spans = named(await harness.spans(), 'jetstream_tokens.authenticate')
    expect(spans.map((span) => span.attributes)).toEqual([
      expect.objectContaining({
        'jetstream_tokens.outcome': 'accepted',
        'jetstream_tokens.cache.hit': false,
      }),
      expect.objectContaining({ 'jetstream_tokens.outcome': 'accepted', 'jetstream_tokens.cache.hit': true }),
      expect.objectContaining({ 'jetstream_tokens.reason': 'mismatch', 'jetstream_tokens.cache.hit': true }),
      expect.objectContaining({ 'jetstream_tokens.reason': 'malformed' }),
    ])
    expect(await pointsOf(harness, 'jetstream_tokens.cache.lookups')).toEqual([
      [{ 'jetstream_tokens.cache.hit': false }, 1],
      [{ 'jetstream_tokens.cache.hit': true }, 2],
    ])
  })

  it('ends the span once the owner is found: accepted', async () => {
    const { harness, tokens, guard } = guarded()
    const { plainTextToken } = await tokens.create('42', 'CI')
    const auth = await guard.resolve({ authorization: `Bearer ${plainTextToken}` })
    expect(auth).not.toBeInstanceOf(HttpAnswer)
    const span = await authenticationSpan(harness)
    expect(span.attributes['jetstream_tokens.outcome']).toBe('accepted')
  })

  it('counts a token whose owner the app does not find as refused, reason rejected', async () => {
    const { harness, tokens, guard } = guarded()
    const { plainTextToken } = await tokens.create('7', 'orphan')
    const answer = await guard.resolve({ authorization: `Bearer ${plainTextToken}` })
    expect(answer).toBeInstanceOf(HttpAnswer)
    const span = await authenticationSpan(harness)
    expect(span.attributes).toMatchObject({
      'jetstream_tokens.outcome': 'refused',
      'jetstream_tokens.reason': 'rejected',
    })
    expect(await pointsOf(harness, 'jetstream_tokens.authentications')).toEqual([
      [{ 'jetstream_tokens.outcome': 'refused', 'jetstream_tokens.reason': 'rejected' }, 1],
    ])
  })

  it('records a refusal and a store outage answered with 401 and 503', async () => {
    const store = new MemoryTokenStore()
    const { harness, tokens, guard } = guarded({ store })
    const { plainTextToken } = await tokens.create('42', 'CI')
    const [id] = plainTextToken.split('|')
    expect(await guard.resolve({ authorization: `Bearer ${id}|${'a'.repeat(48)}` })).toMatchObject({
      status: 401,
    })
    store.findById = () => Promise.reject(new Error('connection refused'))
    expect(await guard.resolve({ authorization: `Bearer ${plainTextToken}` })).toMatchObject({ status: 503 })
    const outcomes = named(await harness.spans(), 'jetstream_tokens.authenticate').map((span) => [
      span.attributes['jetstream_tokens.outcome'],
      span.status.code,
    ])
    expect(outcomes).toEqual([
      ['refused', SpanStatusCode.UNSET],
      ['error', SpanStatusCode.ERROR],
    ])
  })
})

describe('openTelemetry: management actions', () => {
  it('makes a span per action, with its outcome, count and (when asked) token id', async () => {
    const { harness, tokens, clock } = setup({ recordTokenId: true })
    const first = await tokens.create('42', 'first')
    await tokens.create('42', 'second', undefined, { expiresAt: new Date(clock.now + 60_000) })
    await tokens.list('42')
    await tokens.update('42', first.token.id, { name: 'renamed' })
    await tokens.update('42', '999', { name: 'nobody' })
    const rotated = await tokens.rotate('42', first.token.id)
    await expect(tokens.rotate('42', first.token.id, { grace: -1 })).rejects.toMatchObject({
      code: 'invalid_input',
    })
    await tokens.revoke('42', rotated?.token.id ?? '')
    await tokens.revoke('42', '999')
    await tokens.create('42', 'third')
    clock.now += 48 * 3_600_000
    await tokens.prune({ hours: 24 })
    await tokens.revokeAll('42')

    const actions = (await harness.spans()).map((span) => ({
      name: span.name,
      kind: span.kind,
      status: span.status.code,
      ...span.attributes,
    }))
    const ok = { kind: SpanKind.INTERNAL, status: SpanStatusCode.UNSET, 'jetstream_tokens.outcome': 'ok' }
    expect(actions).toEqual([
      { ...ok, name: 'jetstream_tokens.create', 'jetstream_tokens.token.id': first.token.id },
      { ...ok, name: 'jetstream_tokens.create', 'jetstream_tokens.token.id': expect.any(String) },
      { ...ok, name: 'jetstream_tokens.list', 'jetstream_tokens.token.count': 2 },
      { ...ok, name: 'jetstream_tokens.update', 'jetstream_tokens.token.id': first.token.id },
      { ...ok, name: 'jetstream_tokens.update', 'jetstream_tokens.outcome': 'not_found' },
      { ...ok, name: 'jetstream_tokens.rotate', 'jetstream_tokens.token.id': first.token.id },
      {
        ...ok,
        name: 'jetstream_tokens.rotate',
        'jetstream_tokens.outcome': 'refused',
        'error.type': 'InvalidInputError',
      },
      { ...ok, name: 'jetstream_tokens.revoke', 'jetstream_tokens.token.id': rotated?.token.id },
      { ...ok, name: 'jetstream_tokens.revoke', 'jetstream_tokens.outcome': 'not_found' },
      { ...ok, name: 'jetstream_tokens.create', 'jetstream_tokens.token.id': expect.any(String) },
      { ...ok, name: 'jetstream_tokens.prune', 'jetstream_tokens.token.count': 1 },
      { ...ok, name: 'jetstream_tokens.revoke_all', 'jetstream_tokens.token.count': 1 },
    ])
  })

  it('marks a store failure as an error, with the error’s own message', async () => {
    const store = new MemoryTokenStore()
    const { harness, tokens } = setup({ store })
    store.listByOwner = () => Promise.reject(new Error('connection refused'))
    await expect(tokens.list('42')).rejects.toMatchObject({ code: 'storage_unavailable' })
    const [span] = named(await harness.spans(), 'jetstream_tokens.list')
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'The token store failed to list.' })
    expect(span?.attributes).toEqual({
      'jetstream_tokens.outcome': 'error',
      'error.type': 'StorageUnavailableError',
    })
  })
})

describe('openTelemetry: last-used flushes and rate limits', () => {
  it('measures each flush: how many tokens it wrote, and how long the store took', async () => {
    const store = new MemoryTokenStore()
    const { harness, tokens, errors } = setup({ store })
    for (const name of ['a', 'b', 'c']) {
      const { plainTextToken } = await tokens.create('42', name)
      await tokens.authenticate(plainTextToken)
    }
    await tokens.close()

    expect(await pointsOf(harness, 'jetstream_tokens.last_used.flush.size')).toEqual([
      [{}, expect.objectContaining({ count: 1, sum: 3 })],
    ])
    expect((await harness.metrics()).get('jetstream_tokens.last_used.flush.size')?.unit).toBe('{token}')
    const touches = (await pointsOf(harness, 'jetstream_tokens.store.duration')).filter(
      ([attributes]) =>
        (attributes as Record<string, unknown>)['jetstream_tokens.store.operation'] === 'touch',
    )
    expect(touches).toEqual([
      [{ 'jetstream_tokens.store.operation': 'touch' }, expect.objectContaining({ count: 1 })],
    ])
    expect(errors).toEqual([])
  })

  it('marks a failed flush with its error type', async () => {
    const store = new MemoryTokenStore()
    const { harness, tokens, errors } = setup({ store })
    const { plainTextToken } = await tokens.create('42', 'a')
    await tokens.authenticate(plainTextToken)
    store.touch = () => Promise.reject(new Error('connection refused'))
    await tokens.close()
    expect(errors).toHaveLength(1)
    expect(await pointsOf(harness, 'jetstream_tokens.last_used.flush.size')).toEqual([
      [{ 'error.type': 'StorageUnavailableError' }, expect.objectContaining({ count: 1, sum: 1 })],
    ])
  })

  it('counts rate-limit refusals by policy', async () => {
    const { harness } = setup()
    const telemetry = openTelemetry({ meter: harness.meterProvider.getMeter('limits') })
    telemetry.rateLimited({ policy: 'token' })
    telemetry.rateLimited({ policy: 'token' })
    telemetry.rateLimited({ policy: 'failures' })
    expect(await pointsOf(harness, 'jetstream_tokens.rate_limit.refusals')).toEqual([
      [{ 'jetstream_tokens.rate_limit.policy': 'token' }, 2],
      [{ 'jetstream_tokens.rate_limit.policy': 'failures' }, 1],
    ])
  })
})

describe('openTelemetry: what is never recorded', () => {
  it('holds no plain text, secret or hash of any token, in any span or metric', async () => {
    const store = new MemoryTokenStore()
    const { harness, tokens, clock } = setup({ store, cache: true, recordTokenId: true, idleTimeout: 60 })
    const issued = [
      await tokens.create('42', 'one'),
      await tokens.create('42', 'two', undefined, { expiresAt: new Date(clock.now + 60_000) }),
    ]
    const rotated = await tokens.rotate('42', issued[0]?.token.id ?? '', { grace: 60 })
    if (rotated) issued.push(rotated)
    const forbidden = await Promise.all(
      issued.map(async ({ token, plainTextToken }) => {
        const secret = plainTextToken.split('|')[1] ?? ''
        const hash = (await store.findById(token.id))?.tokenHash ?? ''
        return [plainTextToken, secret, secret.slice(0, 20), hash]
      }),
    )
    for (const { plainTextToken } of issued) {
      await tokens.authenticate(plainTextToken)
      await tokens.authenticate(plainTextToken)
      await tokens.authenticate(`${plainTextToken.slice(0, -1)}0`)
      await tokens.authenticate(plainTextToken.split('|')[1] ?? '')
    }
    await tokens.list('42')
    clock.now += 2 * 60_000
    for (const { plainTextToken } of issued) await tokens.authenticate(plainTextToken)
    store.findById = () => Promise.reject(new Error(`down while reading ${issued[0]?.plainTextToken}`))
    await tokens.authenticate(issued[1]?.plainTextToken ?? '').catch(() => {})
    await tokens.close()

    const spans = (await harness.spans()).map((span) => ({
      name: span.name,
      attributes: span.attributes,
      status: span.status,
      events: span.events,
      links: span.links,
    }))
    const recorded = JSON.stringify({ spans, metrics: await harness.export() })
    expect(spans.length).toBeGreaterThan(15)
    for (const text of forbidden.flat()) {
      expect(text.length).toBeGreaterThanOrEqual(20)
      expect(recorded).not.toContain(text)
    }
  })
})

describe('openTelemetry: defaults', () => {
  afterEach(() => {
    trace.disable()
    metrics.disable()
  })

  it('uses the global providers, named after this package and its version, even when registered later', async () => {
    const harness = telemetryHarness()
    harnesses.push(harness)
    const telemetry = openTelemetry()
    // The SDK starts after the telemetry is built, as it may in an app.
    trace.setGlobalTracerProvider(harness.tracerProvider)
    metrics.setGlobalMeterProvider(harness.meterProvider)
    const tokens = createTokens({ store: new MemoryTokenStore(), telemetry })
    const { plainTextToken } = await tokens.create('42', 'CI')
    await tokens.authenticate(plainTextToken)

    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    const scope = { name: '@jetstream/tokens', version }
    for (const span of await harness.spans()) expect(span.instrumentationScope).toMatchObject(scope)
    const scopes = (await harness.export()).flatMap((resource) => resource.scopeMetrics.map((s) => s.scope))
    expect(scopes).toEqual([expect.objectContaining(scope)])
    expect(await pointsOf(harness, 'jetstream_tokens.authentications')).toEqual([
      [{ 'jetstream_tokens.outcome': 'accepted' }, 1],
    ])
  })

  it('refuses options that are not a tracer, a meter or a boolean, when built', () => {
    expect(() => openTelemetry({ tracer: {} as never })).toThrow(/Tracer/)
    expect(() => openTelemetry({ meter: {} as never })).toThrow(/Meter/)
    expect(() => openTelemetry({ recordTokenId: 'yes' as never })).toThrow(/recordTokenId/)
  })
})
