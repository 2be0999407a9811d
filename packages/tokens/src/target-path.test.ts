import { describe, expect, it } from 'vitest'
import { targetPath } from './target-path.js'

describe('targetPath', () => {
  it.each([
    ['/user/api-tokens', '/user/api-tokens'],
    ['/user/api-tokens/7?x=1', '/user/api-tokens/7'],
    ['/user/api-tokens/x/../7', '/user/api-tokens/x/../7'],
    ['/user/api%2Dtokens', '/user/api%2Dtokens'],
    ['http://example.com/user/api-tokens', '/user/api-tokens'],
    ['http://example.com:8080/user/api-tokens/7?next=/x', '/user/api-tokens/7'],
    ['https://user@example.com/user/api-tokens', '/user/api-tokens'],
    ['http://example.com', ''],
    ['http://example.com?x=/y', ''],
    ['/user/api-tokens/7#x', '/user/api-tokens/7#x'],
    ['/user/api-tokens#x?y', '/user/api-tokens#x'],
    ['http://example.com#x/y', ''],
    ['*', ''],
    ['', ''],
  ])('%s → %s', (target, path) => {
    expect(targetPath(target)).toBe(path)
  })
})
