/**
 * The Redis storage driver of the "write your own driver" example.
 *
 * @example
 * ```ts
 * import { RedisTokenStore } from '@examples/custom-store'
 * const tokens = createTokens({ store: new RedisTokenStore(new Redis()) })
 * ```
 * @module
 */
export type { RedisTokenStoreOptions } from './redis-token-store.js'
export { RedisTokenStore } from './redis-token-store.js'
