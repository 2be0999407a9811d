import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'tokens',
    typecheck: { enabled: true, include: ['src/**/*.test-d.ts'] },
  },
})
