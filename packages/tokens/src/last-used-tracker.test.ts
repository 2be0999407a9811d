import { describe, expect, it } from 'vitest'
import { LastUsedTracker } from './last-used-tracker.js'

const now = new Date('2026-06-01T12:00:00Z').getTime()

/** Records each write as `[id, milliseconds after now]` pairs. */
function recorder() {
  const writes: [string, number][][] = []
  let fail = false
  return {
    writes,
    failNext: () => {
      fail = true
    },
    write: async (uses: ReadonlyMap<string, Date>) => {
      if (fail) {
        fail = false
        throw new Error('database down')
      }
      writes.push([...uses].map(([id, at]) => [id, at.getTime() - now]))
    },
  }
}

describe('LastUsedTracker', () => {
  it('batches the touches of many tokens into one write', async () => {
    const r = recorder()
    const tracker = new LastUsedTracker(r.write, { flushDelay: 10_000 }, () => {})
    for (const id of ['1', '2', '3']) expect(tracker.note(id, null, now)).toEqual(new Date(now))
    await tracker.flush()
    expect(r.writes).toEqual([
      [
        ['1', 0],
        ['2', 0],
        ['3', 0],
      ],
    ])
  })

  it('touches a token once while a touch is pending, with the time of its latest use', async () => {
    const r = recorder()
    const tracker = new LastUsedTracker(r.write, { flushDelay: 10_000 }, () => {})
    expect(tracker.note('1', null, now)).toEqual(new Date(now))
    expect(tracker.note('1', null, now + 500)).toEqual(new Date(now + 500))
    await tracker.close()
    expect(r.writes).toEqual([[['1', 500]]])
  })

  it('skips tokens used within the interval', () => {
    const tracker = new LastUsedTracker(recorder().write, { interval: 60_000, flushDelay: 10_000 }, () => {})
    expect(tracker.note('1', now - 59_999, now)).toBeNull()
    expect(tracker.note('1', now - 60_000, now)).toEqual(new Date(now))
  })

  it('flushes by itself after the delay', async () => {
    const r = recorder()
    const tracker = new LastUsedTracker(r.write, { flushDelay: 5 }, () => {})
    tracker.note('1', null, now)
    await expect.poll(() => r.writes).toEqual([[['1', 0]]])
  })

  it('drops a touch for a token that was revoked', async () => {
    const r = recorder()
    const tracker = new LastUsedTracker(r.write, { flushDelay: 10_000 }, () => {})
    tracker.note('1', null, now)
    tracker.note('2', null, now)
    tracker.forget('1')
    await tracker.close()
    expect(r.writes).toEqual([[['2', 0]]])
  })

  it('reports a failed write and retries it with the next batch, still with the time of use', async () => {
    const r = recorder()
    const errors: unknown[] = []
    const tracker = new LastUsedTracker(r.write, { flushDelay: 10_000 }, (error) => errors.push(error))
    tracker.note('1', null, now)
    r.failNext()
    await tracker.flush()
    expect(errors).toHaveLength(1)
    tracker.note('2', null, now + 15_000)
    await tracker.flush()
    expect(r.writes).toEqual([
      [
        ['1', 0],
        ['2', 15_000],
      ],
    ])
  })

  it('writes nothing when nothing is pending', async () => {
    const r = recorder()
    await new LastUsedTracker(r.write, {}, () => {}).close()
    expect(r.writes).toEqual([])
  })
})
