import {
  type AuditSink,
  createTokens,
  MemoryAuditLog,
  MemoryTokenStore,
  type TokenService,
  type TokenStore,
} from '@jetstream/tokens'
import { type Permission, permissions } from './permissions.js'
import { findUser, type User } from './users.js'

/**
 * The token service every example app uses; only the store and the audit log differ (memory in tests, PGlite in
 * the demo). The audit log is what the page's "Activity" dialog lists.
 */
export function createTokenService(
  store: TokenStore = new MemoryTokenStore(),
  audit: AuditSink = new MemoryAuditLog(),
): TokenService<Permission> {
  return createTokens({ store, audit, permissions, lastUsed: { interval: 60_000, flushDelay: 1_000 } })
}

/** The user behind a verified token (the `user` option of every adapter's `auth`). */
export function userForToken(token: { readonly owner: { readonly id: string } }): User | null {
  return findUser(token.owner.id)
}
