export type { ActingAsOptions } from './acting-as.js'
export { actingAs } from './acting-as.js'
export type { TokenStoreSuiteOptions } from './test-token-store.js'
export { testTokenStore } from './test-token-store.js'
