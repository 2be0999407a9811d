import { writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { TokenService } from '@jetstream/tokens'

/** How many distinct tokens a verification scenario spreads its requests over. */
export const TOKEN_COUNT = 10_000

/** Creates `count` tokens of owner 1 with `read`, 50 at a time; resolves to their plain texts. */
export async function issueTokens(tokens: TokenService<'read'>, count = TOKEN_COUNT): Promise<string[]> {
  const plains: string[] = []
  for (let start = 0; start < count; start += 50) {
    const batch = Array.from({ length: Math.min(50, count - start) }, (_, i) =>
      tokens.create('1', `bench ${start + i}`, ['read']),
    )
    for (const { plainTextToken } of await Promise.all(batch)) plains.push(plainTextToken)
  }
  return plains
}

/**
 * Uses every token once and flushes the touches: the steady state of an API in use, where a token's last use is
 * recent and no touch falls due during a run.
 */
export async function warmTokens(tokens: TokenService<'read'>, plains: readonly string[]): Promise<void> {
  for (let start = 0; start < plains.length; start += 50) {
    await Promise.all(plains.slice(start, start + 50).map((plain) => tokens.authenticate(plain)))
  }
  await tokens.close()
}

/**
 * Uses every token once through a cached service, after its change feed is live (until then the cache keeps
 * nothing), so a run measures the steady state, not 10,000 first lookups. `counted.statements` is the database's
 * statement count, which this resets: the feed is live once a second use of a token sends none.
 */
export async function fillCache(
  service: TokenService<'read'>,
  all: readonly string[],
  counted: { statements: number },
): Promise<void> {
  const sample = all[0] as string
  for (let tries = 0; tries < 200; tries++) {
    counted.statements = 0
    await service.authenticate(sample)
    await service.authenticate(sample)
    if (counted.statements === 1) break
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  for (let start = 0; start < all.length; start += 50) {
    await Promise.all(all.slice(start, start + 50).map((plain) => service.authenticate(plain)))
  }
}

/** Writes plain texts one per line to a fresh file and returns its path (the load generator's input). */
export function writeTokens(plains: readonly string[], label: string): string {
  const file = join(tmpdir(), `jetstream-bench-${label}-${process.pid}.txt`)
  writeFileSync(file, plains.join('\n'))
  return file
}

/** A fresh in-process PGlite that counts in `counted.statements` every query it is sent. */
export function countingPglite(counted: { statements: number }): PGlite {
  const lite = new PGlite()
  const query = lite.query.bind(lite)
  lite.query = ((...args: Parameters<PGlite['query']>) => {
    counted.statements++
    return query(...args)
  }) as PGlite['query']
  return lite
}
