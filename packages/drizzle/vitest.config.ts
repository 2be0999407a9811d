import { defineProject } from 'vitest/config'

export default defineProject({
  test: {
    name: 'drizzle',
    // PGlite starts a whole PostgreSQL in process: give the first test of a file time to boot it.
    hookTimeout: 60_000,
    testTimeout: 30_000,
  },
})
