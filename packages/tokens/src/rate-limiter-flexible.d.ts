// The memory limiter is imported from its own module: the package's index also loads its cluster limiter, which
// needs Node's `cluster` and would keep the core from loading on Workers or in a browser.
declare module 'rate-limiter-flexible/lib/RateLimiterMemory.js' {
  import type { RateLimiterMemory } from 'rate-limiter-flexible'

  const Memory: typeof RateLimiterMemory
  export default Memory
}
