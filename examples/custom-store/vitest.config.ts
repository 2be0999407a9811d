import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    // The tests talk to the Redis at REDIS_URL (default redis://127.0.0.1:6379); CI starts one.
    name: 'custom-store',
    include: ['src/**/*.test.ts'],
  },
})
