import type { RateLimitOptions, TokenTelemetry } from '@jetstream/tokens'
import { openTelemetry } from '@jetstream/tokens/opentelemetry'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { TracerProvider } from '@opentelemetry/sdk-trace'
import { Redis } from 'ioredis'
import { RateLimiterRedis } from 'rate-limiter-flexible'

const opened: Redis[] = []

/**
 * Closes the Redis connections the extras opened, so a process that made them in-process can end.
 *
 * @example
 * ```ts
 * await closeExtras()
 * ```
 */
export async function closeExtras(): Promise<void> {
  await Promise.all(opened.splice(0).map((redis) => redis.quit()))
}

/** What a scenario adds to its route: `limit-memory`, `limit-redis`, `traced`, or nothing (''). */
export type Extra = '' | 'limit-memory' | 'limit-redis' | 'traced'

/**
 * The `createTokens` options an extra stands for:
 * - `limit-memory`, `limit-redis`: rate limits that no request of a run reaches, so every request pays for the
 *   count and none is refused, counted in this process or in Redis (`REDIS_URL`, keys under a per-process prefix);
 * - `traced`: spans and metrics made as an app with tracing on makes them (sampled, recorded), then dropped: no
 *   exporter.
 *
 * @example
 * ```ts
 * const tokens = createTokens({ store, permissions, cache: true, ...extraOptions('limit-memory') })
 * ```
 */
export function extraOptions(extra: string): { rateLimit?: RateLimitOptions; telemetry?: TokenTelemetry } {
  if (extra === '') return {}
  if (extra === 'traced') {
    const tracer = new TracerProvider().getTracer('bench')
    const meter = new MeterProvider().getMeter('bench')
    return { telemetry: openTelemetry({ tracer, meter }) }
  }
  const rateLimit: RateLimitOptions = { limit: 1_000_000_000, window: 60 }
  if (extra === 'limit-memory') return { rateLimit }
  if (extra !== 'limit-redis') throw new Error(`unknown scenario extra: ${extra}`)
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  opened.push(redis)
  const keyPrefix = `bench:${process.pid}:${Math.random().toString(36).slice(2)}:`
  return {
    rateLimit: {
      ...rateLimit,
      backend: (options) =>
        new RateLimiterRedis({
          storeClient: redis,
          ...options,
          keyPrefix: `${keyPrefix}${options.keyPrefix}`,
        }),
    },
  }
}
