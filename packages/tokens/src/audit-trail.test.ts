import { describe, expect, it, vi } from 'vitest'
import { type AuditEvent, MemoryAuditLog } from './audit-log.js'
import { MisconfigurationError } from './errors.js'
import { MemoryTokenStore } from './memory-token-store.js'
import { hashSecret } from './plain-text-token.js'
import { RequestGuard } from './request-guard.js'
import { bareAdapter } from './test-support/bare-request.js'
import { createTokens } from './token-service.js'

const adapter = bareAdapter
const ada = { type: 'user', id: '42' }
const session = { actor: { type: 'user' as const, id: '42' }, ip: '198.51.100.4', userAgent: 'Mozilla/5.0' }

function setup() {
  const audit = new MemoryAuditLog()
  let now = Date.parse('2026-06-01T12:00:00Z')
  const tokens = createTokens({
    store: new MemoryTokenStore(),
    audit,
    lastUsed: false,
    now: () => new Date(now),
  })
  const guard = new RequestGuard(tokens, { user: () => ({ id: '42' }) }, adapter)
  const advance = (ms: number) => {
    now += ms
  }
  return { audit, tokens, guard, advance }
}

const summary = (events: readonly AuditEvent[]) =>
  events.map((event) => [event.action, event.tokenId, event.actor?.type ?? null, event.reason, event.ip])

describe('the audit trail', () => {
  it('records a scripted sequence of actions, with who, from where and with which client', async () => {
    const { audit, tokens, guard, advance } = setup()
    const made = await tokens.create('42', 'deploy', ['read'], { context: session })
    const bearer = (plainText: string) => ({
      headers: { authorization: `Bearer ${plainText}`, 'user-agent': 'curl/8.5.0' },
      address: '203.0.113.7',
    })
    await guard.resolve(bearer(made.plainTextToken))
    await guard.resolve(bearer(`${made.token.id}|${'A'.repeat(40)}${'0'.repeat(8)}`)) // malformed: bad checksum
    await tokens.update('42', made.token.id, { name: 'deploy bot', context: session })
    const next = await tokens.rotate('42', made.token.id, { context: session })
    await guard.resolve(bearer(made.plainTextToken)) // the old secret, now unknown
    await tokens.revoke('42', next?.token.id ?? '', { context: session })
    const short = await tokens.create('42', 'short', ['read'], {
      expiresAt: new Date(Date.parse('2026-06-01T12:01:00Z')),
    })
    advance(3 * 86_400_000)
    await guard.resolve(bearer(short.plainTextToken))
    await tokens.prune({ hours: 24 })
    expect(summary(audit.all())).toEqual([
      ['created', made.token.id, 'user', null, '198.51.100.4'],
      ['authenticated', made.token.id, 'token', null, '203.0.113.7'],
      ['refused', null, null, 'malformed', '203.0.113.7'],
      ['updated', made.token.id, 'user', null, '198.51.100.4'],
      ['rotated', next?.token.id, 'user', null, '198.51.100.4'],
      ['refused', made.token.id, null, 'unknown', '203.0.113.7'],
      ['revoked', next?.token.id, 'user', null, '198.51.100.4'],
      ['created', short.token.id, null, null, null],
      ['refused', short.token.id, null, 'expired', '203.0.113.7'],
      ['pruned', null, null, null, null],
    ])
    const events = audit.all()
    expect(events[1]).toMatchObject({
      owner: ada,
      userAgent: 'curl/8.5.0',
      actor: { type: 'token', id: made.token.id },
    })
    expect(events[4]).toMatchObject({ previousTokenId: made.token.id, owner: ada })
    expect(events[5]?.owner).toBeNull() // an unknown token has no owner to tell
    expect(events[8]?.owner).toEqual(ada)
    expect(events[9]?.count).toBe(1)
    // Nothing secret in any event: no plain text, secret or hash issued here.
    const text = JSON.stringify(events)
    for (const plain of [made.plainTextToken, next?.plainTextToken ?? '', short.plainTextToken]) {
      const secret = plain.slice(plain.indexOf('|') + 1)
      expect(text).not.toContain(secret)
      expect(text).not.toContain(hashSecret(secret))
    }
  })

  it('keeps what a client sent within bounds and free of controls: the user agent and the address', async () => {
    const { audit, tokens, guard } = setup()
    const { plainTextToken } = await tokens.create('42', 'x')
    const userAgent = `curl\u001b[31m\u0085\u202eevil${'🔑'.repeat(600)}`
    await guard.resolve({
      headers: { authorization: `Bearer ${plainTextToken}`, 'user-agent': userAgent },
      address: `203.0.113.7\n${'9'.repeat(100)}`,
    })
    const [, used] = audit.all()
    expect(used?.userAgent?.startsWith('curl\ufffd[31m\ufffd\ufffdevil🔑')).toBe(true)
    expect(Array.from(used?.userAgent ?? '')).toHaveLength(512)
    expect(used?.ip).toBe(`203.0.113.7\ufffd${'9'.repeat(52)}`)
  })

  it('gives a token’s recent events to its owner only, newest first, the rotation found by either id', async () => {
    const { tokens, guard } = setup()
    const made = await tokens.create('42', 'mine', ['read'], { context: session })
    await guard.resolve({ headers: { authorization: `Bearer ${made.plainTextToken}` } })
    const next = await tokens.rotate('42', made.token.id, { context: session })
    const mine = await tokens.recentEvents('42', made.token.id)
    expect(mine.map((event) => event.action)).toEqual(['rotated', 'authenticated', 'created'])
    expect((await tokens.recentEvents('42', next?.token.id ?? '')).map((e) => e.action)).toEqual(['rotated'])
    expect(await tokens.recentEvents('7', made.token.id)).toEqual([])
    expect(await tokens.recentEvents('42', made.token.id, 1)).toHaveLength(1)
    expect(await tokens.recentEvents('42', 'not an id')).toEqual([])
  })

  it('reports a sink that throws, and carries on', async () => {
    const errors: unknown[] = []
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      audit: {
        record: () => {
          throw new Error('the log is full')
        },
      },
      on: { error: (error) => errors.push(error) },
    })
    const { plainTextToken } = await tokens.create('42', 'x')
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    expect(errors).toHaveLength(2)
    expect(await tokens.recentEvents('42', '1')).toEqual([])
    expect(() => createTokens({ store: new MemoryTokenStore(), audit: {} as never })).toThrow()
  })

  it('reports a sink whose promise rejects, rather than leave the rejection to end the process', async () => {
    const errors: unknown[] = []
    const failure = new Error('the database is down')
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      lastUsed: false,
      audit: { record: async () => Promise.reject(failure) },
      on: { error: (error) => errors.push(error) },
    })
    const { plainTextToken } = await tokens.create('42', 'x')
    expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
    await new Promise((resolve) => setImmediate(resolve))
    expect(errors).toEqual([failure, failure])
  })

  it('prints a failing sink’s message without an error hook, once a minute rather than never or every time', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const tokens = createTokens({
        store: new MemoryTokenStore(),
        lastUsed: false,
        audit: {
          record: async () => Promise.reject(Object.assign(new Error('the log is full'), { detail: 'k=v' })),
        },
      })
      const { plainTextToken } = await tokens.create('42', 'x')
      for (let i = 0; i < 5; i++) expect(await tokens.authenticate(plainTextToken)).not.toBeNull()
      await new Promise((resolve) => setImmediate(resolve))
      expect(printed.mock.calls).toEqual([
        ['@jetstream/tokens: the log is full (give createTokens an `on.error` hook to handle such errors)'],
      ])
    } finally {
      printed.mockRestore()
    }
  })

  it('shows only the owner’s events of the token, whatever the sink gives back', async () => {
    const event = (owner: { type: string; id: string }, tokenId: string): AuditEvent => ({
      action: 'authenticated',
      at: new Date(),
      actor: null,
      owner,
      tokenId,
      reason: null,
      count: null,
      ip: '203.0.113.9',
      userAgent: null,
    })
    // A sink that looks events up by token id alone, and ignores the limit.
    const events = [event({ type: 'user', id: '7' }, '1'), event(ada, '1'), event(ada, '2'), event(ada, '1')]
    const tokens = createTokens({
      store: new MemoryTokenStore(),
      audit: { record: () => {}, recent: async () => events },
    })
    expect(await tokens.recentEvents('42', '1')).toEqual([events[1], events[3]])
    expect(await tokens.recentEvents('42', '1', 1)).toEqual([events[1]])
    expect(await tokens.recentEvents({ type: 'team', id: '42' }, '1')).toEqual([])
  })
})

describe('MemoryAuditLog', () => {
  const at = (second: number): AuditEvent => ({
    action: 'authenticated',
    at: new Date(Date.UTC(2026, 5, 1, 12, 0, second)),
    actor: null,
    owner: ada,
    tokenId: '7',
    reason: null,
    count: null,
    ip: null,
    userAgent: null,
  })

  it('keeps the last `capacity` events, dropping the oldest', async () => {
    const audit = new MemoryAuditLog({ capacity: 3 })
    for (let second = 0; second < 5; second++) audit.record(at(second))
    const kept = await audit.recent(ada, '7', 10)
    expect(kept.map((event) => event.at.getUTCSeconds())).toEqual([4, 3, 2])
  })

  it('keeps events of no owner apart, so a flood of junk tokens cannot push the owners’ events out', async () => {
    const audit = new MemoryAuditLog({ capacity: 3 })
    audit.record(at(0))
    audit.record(at(1))
    for (let second = 2; second < 50; second++) {
      audit.record({ ...at(second), action: 'refused', owner: null, tokenId: null, reason: 'unknown' })
    }
    audit.record(at(50))
    const kept = await audit.recent(ada, '7', 10)
    expect(kept.map((event) => event.at.getUTCSeconds())).toEqual([50, 1, 0])
    // All of them, in the order they were recorded: the owner's, and the last three of no owner.
    expect(audit.all().map((event) => event.at.getUTCSeconds())).toEqual([0, 1, 47, 48, 49, 50])
  })

  it('keeps refusals apart too, so guessed secrets for a real token cannot push its owner’s events out', async () => {
    const audit = new MemoryAuditLog({ capacity: 3 })
    audit.record(at(0))
    audit.record(at(1))
    for (let second = 2; second < 50; second++) {
      audit.record({ ...at(second), action: 'refused', reason: 'mismatch' })
    }
    audit.record(at(50))
    // The owner's own events, and the token's latest refusals among them, newest first.
    const kept = await audit.recent(ada, '7', 10)
    expect(kept.map((event) => [event.at.getUTCSeconds(), event.action])).toEqual([
      [50, 'authenticated'],
      [49, 'refused'],
      [48, 'refused'],
      [47, 'refused'],
      [1, 'authenticated'],
      [0, 'authenticated'],
    ])
    expect((await audit.recent(ada, '7', 2)).map((event) => event.at.getUTCSeconds())).toEqual([50, 49])
  })

  it('keeps its events as recorded, whatever is done to what was given or handed out', async () => {
    const audit = new MemoryAuditLog()
    const given = { ...at(0), owner: { ...ada }, actor: { type: 'user' as const, id: '1' } }
    audit.record(given)
    given.owner.id = 'someone else'
    given.at.setUTCFullYear(2000)
    for (const event of [...(await audit.recent(ada, '7', 1)), ...audit.all()]) {
      ;(event.owner as { id: string }).id = 'someone else'
      ;(event.actor as { id: string }).id = '2'
      event.at.setUTCFullYear(2000)
    }
    const [kept] = await audit.recent(ada, '7', 1)
    expect(kept).toEqual({ ...at(0), actor: { type: 'user', id: '1' } })
  })

  it('refuses a capacity that bounds nothing', () => {
    for (const capacity of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => new MemoryAuditLog({ capacity })).toThrow(MisconfigurationError)
    }
  })
})
