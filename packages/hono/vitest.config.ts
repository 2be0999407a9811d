import { defineProject } from 'vitest/config'

export default defineProject({
  test: { name: 'hono', typecheck: { enabled: true, include: ['src/**/*.test-d.ts'] }, hookTimeout: 60_000 },
})
