import { createTokens, MemoryTokenStore, type TokenService, type TokenStore } from '@jetstream/tokens'
import { type Permission, permissions } from './permissions.js'
import { findUser, type User } from './users.js'

/** The token service every example app uses; only the store differs (memory in tests, PGlite in the demo). */
export function createTokenService(store: TokenStore = new MemoryTokenStore()): TokenService<Permission> {
  return createTokens({ store, permissions, lastUsed: { interval: 60_000, flushDelay: 1_000 } })
}

/** The user behind a verified token (the `user` option of every adapter's `auth`). */
export function userForToken(token: { readonly owner: { readonly id: string } }): User | null {
  return findUser(token.owner.id)
}
