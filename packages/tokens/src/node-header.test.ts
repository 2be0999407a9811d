import { describe, expect, it } from 'vitest'
import { nodeHeader } from './node-header.js'

describe('nodeHeader', () => {
  it('reads a header as sent: empty is a value, absent is undefined, repeated fields joined', () => {
    const headers = { 'x-api-token': '', authorization: 'Bearer 7|abc', 'x-list': ['a', 'b'] }
    expect(nodeHeader(headers, 'x-api-token')).toBe('')
    expect(nodeHeader(headers, 'authorization')).toBe('Bearer 7|abc')
    expect(nodeHeader(headers, 'x-list')).toBe('a, b')
    expect(nodeHeader(headers, 'origin')).toBeUndefined()
  })

  it('answers only the name asked for: `referer` is not `referrer`', () => {
    expect(nodeHeader({ referrer: 'https://app.example/' }, 'referer')).toBeUndefined()
  })
})
