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
})
