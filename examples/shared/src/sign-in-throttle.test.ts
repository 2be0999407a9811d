import { describe, expect, it } from 'vitest'
import { SignInThrottle } from './sign-in-throttle.js'

describe('SignInThrottle', () => {
  function setup() {
    const clock = { now: 1_000_000 }
    return { clock, throttle: new SignInThrottle({ now: () => clock.now }) }
  }

  it('refuses a sixth try within the minute, saying how long to wait, and lets it through once the minute is over', () => {
    const { clock, throttle } = setup()
    for (let i = 0; i < 5; i++) {
      expect(throttle.refusal('ada@example.com', '10.0.0.1')).toBeNull()
      throttle.failed('ada@example.com', '10.0.0.1')
    }
    clock.now += 20_500
    expect(throttle.refusal('ADA@example.com', '10.0.0.1')).toMatchObject({
      retryAfter: 40,
      body: {
        code: 'too_many_requests',
        message: 'Too many login attempts. Please try again in 40 seconds.',
      },
    })
    expect(throttle.refusal('ada@example.com', '10.0.0.2')).toBeNull()
    expect(throttle.refusal('grace@example.com', '10.0.0.1')).toBeNull()
    clock.now += 39_500
    expect(throttle.refusal('ada@example.com', '10.0.0.1')).toBeNull()
  })

  it('forgets the failures once a sign-in succeeds', () => {
    const { throttle } = setup()
    for (let i = 0; i < 5; i++) throttle.failed('ada@example.com', '10.0.0.1')
    throttle.succeeded('ada@example.com', '10.0.0.1')
    expect(throttle.refusal('ada@example.com', '10.0.0.1')).toBeNull()
  })

  it('keeps no count past its minute', () => {
    const { clock, throttle } = setup()
    throttle.failed('ada@example.com', '10.0.0.1')
    clock.now += 60_000
    for (let i = 0; i < 4; i++) throttle.failed('ada@example.com', '10.0.0.1')
    expect(throttle.refusal('ada@example.com', '10.0.0.1')).toBeNull()
  })
})
