import { describe, expect, it } from 'vitest'
import { isPromiseLike } from './maybe-promise.js'

describe('isPromiseLike', () => {
  it('is true for promises and for any thenable, as await treats them', () => {
    expect(isPromiseLike(Promise.resolve(1))).toBe(true)
    // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test is about
    const thenable = { then: (resolve: (value: number) => void) => resolve(1) }
    expect(isPromiseLike(thenable as unknown as PromiseLike<number>)).toBe(true)
    // biome-ignore lint/suspicious/noThenProperty: a thenable is what this test is about
    const callable = Object.assign(() => 1, { then: () => undefined })
    expect(isPromiseLike(callable)).toBe(true)
  })

  it('is false for plain values, records and null', () => {
    // biome-ignore lint/suspicious/noThenProperty: a `then` that is not a function makes no thenable
    const notThenable = { then: 'not a function' }
    for (const value of [null, undefined, 0, '', 'then', { id: '1' }, notThenable, () => 1]) {
      expect(isPromiseLike(value)).toBe(false)
    }
  })
})
