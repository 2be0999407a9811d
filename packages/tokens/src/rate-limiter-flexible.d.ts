// The memory backend's storage is imported from its own module: the package's index also loads its cluster limiter,
// which needs Node's `cluster` and would keep the core from loading on Workers or in a browser.
declare module 'rate-limiter-flexible/lib/component/MemoryStorage/MemoryStorage.js' {
  import type { RateLimiterRes } from 'rate-limiter-flexible'

  /** rate-limiter-flexible's in-process counters, as `RateLimiterMemory` uses them. */
  export default class MemoryStorage {
    incrby(key: string, value: number, durationSec: number): RateLimiterRes
    get(key: string): RateLimiterRes | null
  }
}
