import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemorySessionStore, signInRefusal } from './sessions.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('MemorySessionStore', () => {
  it('keeps a session for its lifetime, forgets it once destroyed or ended, and sweeps out ended ones', async () => {
    vi.useFakeTimers({ now: Date.parse('2030-01-01T00:00:00Z') })
    const sessions = new MemorySessionStore<{ userId: string }>()
    await sessions.set('a', { userId: '1' }, 1_000)
    await sessions.set('b', { userId: '2' }, 60_000)
    expect(await sessions.get('a')).toEqual({ userId: '1' })
    await sessions.destroy('b')
    expect(await sessions.get('b')).toBeUndefined()
    vi.advanceTimersByTime(1_000)
    expect(await sessions.get('a')).toBeUndefined()
    // A session nobody reads again is swept out by the next one.
    await sessions.set('c', { userId: '3' }, 1_000)
    vi.advanceTimersByTime(1_000)
    await sessions.set('d', { userId: '4' }, 1_000)
    expect(sessions.size).toBe(1)
  })
})

describe('signInRefusal', () => {
  const request = {
    contentType: 'application/json',
    origin: 'https://app.example',
    referer: undefined,
    host: 'app.example',
  }

  it('lets a JSON sign-in from the app’s own origin through, and refuses another site or another body', () => {
    expect(signInRefusal(request)).toBeNull()
    expect(signInRefusal({ ...request, contentType: 'application/json; charset=utf-8' })).toBeNull()
    expect(signInRefusal({ ...request, contentType: 'text/plain' })?.status).toBe(415)
    expect(signInRefusal({ ...request, contentType: undefined })?.status).toBe(415)
    expect(signInRefusal({ ...request, origin: 'https://evil.example' })?.status).toBe(403)
    expect(signInRefusal({ ...request, origin: undefined })?.status).toBe(403)
  })
})
