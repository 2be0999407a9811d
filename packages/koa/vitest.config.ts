import { defineProject } from 'vitest/config'

export default defineProject({
  test: { name: 'koa', typecheck: { enabled: true, include: ['src/**/*.test-d.ts'] }, hookTimeout: 60_000 },
})
