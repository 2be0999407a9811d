import { StorageUnavailableError } from '@jetstream/tokens'
import { describe, expect, it } from 'vitest'
import { StatementDeadline } from './statement-deadline.js'

describe('StatementDeadline', () => {
  it('passes results and errors through', async () => {
    const deadline = new StatementDeadline(1_000)
    await expect(deadline.watch('find', async () => 42)).resolves.toBe(42)
    await expect(deadline.watch('find', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await expect(
      deadline.watch('find', () => {
        throw new Error('sync')
      }),
    ).rejects.toThrow('sync')
  })

  it('fails statements that hang, oldest first, and keeps serving the others', async () => {
    const deadline = new StatementDeadline(20)
    const hanging = deadline.watch('find', () => new Promise(() => {}))
    const quick = deadline.watch('list', async () => 'ok')
    const second = deadline.watch('insert', () => new Promise(() => {}))
    await expect(quick).resolves.toBe('ok')
    await expect(hanging).rejects.toThrow('The database did not answer "find" within 20 ms.')
    await expect(second).rejects.toBeInstanceOf(StorageUnavailableError)
    await expect(deadline.watch('find', async () => 'still works')).resolves.toBe('still works')
  })

  it('ignores a late answer after the timeout', async () => {
    const deadline = new StatementDeadline(10)
    let answer: (value: string) => void = () => {}
    const late = deadline.watch('find', () => new Promise<string>((resolve) => (answer = resolve)))
    await expect(late).rejects.toBeInstanceOf(StorageUnavailableError)
    answer('too late')
  })

  it('asks to cancel a statement past due at once, again while it still runs, and no more once it ends', async () => {
    const { deadline, cancels } = countingCancel(20)
    let answer: (value: string) => void = () => {}
    const late = deadline.watch('find', () => new Promise<string>((resolve) => (answer = resolve)))
    await expect(late).rejects.toBeInstanceOf(StorageUnavailableError)
    expect(cancels()).toBe(1)
    await expect.poll(cancels, { timeout: 2_000 }).toBeGreaterThanOrEqual(2)
    answer('too late')
    const after = cancels()
    await sleep(600)
    expect(cancels()).toBe(after)
  })

  it('asks to cancel only for statements of its operation', async () => {
    const { deadline, cancels } = countingCancel(20)
    await expect(deadline.watch('insert', () => new Promise(() => {}))).rejects.toBeInstanceOf(
      StorageUnavailableError,
    )
    await sleep(300)
    expect(cancels()).toBe(0)
    await timedOut(deadline)
    expect(cancels()).toBe(1)
  })

  it('never asks to cancel while every statement answers in time', async () => {
    const { deadline, cancels } = countingCancel(50)
    await deadline.watch('find', async () => 'ok')
    await expect(deadline.watch('find', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom')
    await sleep(300)
    expect(cancels()).toBe(0)
  })

  it('sends one cancel at a time: one that hangs is not sent again beside it', async () => {
    const { deadline, cancels } = countingCancel(20, () => new Promise(() => {}))
    await timedOut(deadline)
    await timedOut(deadline)
    await sleep(600)
    expect(cancels()).toBe(1)
  })

  it('keeps answering when a cancel fails or throws', async () => {
    const { deadline, cancels } = countingCancel(20, (call) => {
      if (call === 1) throw new Error('cannot reach the server')
      return Promise.reject(new Error('refused'))
    })
    await timedOut(deadline)
    await expect.poll(cancels, { timeout: 2_000 }).toBeGreaterThanOrEqual(2)
    await expect(deadline.watch('find', async () => 'still works')).resolves.toBe('still works')
  })
})

/** Watches a statement that never answers, until the deadline fails it. */
async function timedOut(deadline: StatementDeadline): Promise<void> {
  await expect(deadline.watch('find', () => new Promise(() => {}))).rejects.toBeInstanceOf(
    StorageUnavailableError,
  )
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// A deadline whose cancel of `find` counts its calls and answers as `answer` does for the nth.
function countingCancel(
  timeout: number,
  answer: (call: number) => PromiseLike<unknown> = async () => {},
): { deadline: StatementDeadline; cancels: () => number } {
  let calls = 0
  const deadline = new StatementDeadline(timeout, {
    cancel: { operation: 'find', run: () => answer(++calls) },
  })
  return { deadline, cancels: () => calls }
}
