import { describe, expect, it } from 'vitest'
import { TransientToken } from './transient-token.js'

describe('TransientToken', () => {
  it('can everything and cant nothing', () => {
    const token = new TransientToken()
    for (const ability of ['read', 'delete', '*', '', 'anything']) {
      expect(token.can(ability)).toBe(true)
      expect(token.cant(ability)).toBe(false)
    }
  })

  it('says it is transient, in code and in JSON', () => {
    expect(new TransientToken().transient).toBe(true)
    expect(JSON.stringify(new TransientToken())).toBe('{"transient":true}')
  })
})
