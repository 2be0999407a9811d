import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'example-hono',
    include: ['src/**/*.test.ts'],
    hookTimeout: 60_000,
    testTimeout: 60_000,
    // A real browser on a machine running the other suites beside it: a dialog that waits on a fetch may take
    // more than the default second to show, and a poll that gives up then fails a page that works.
    expect: { poll: { timeout: 5_000 } },
  },
})
