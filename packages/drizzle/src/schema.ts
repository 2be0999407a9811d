import { sql } from 'drizzle-orm'
import { bigint, index, integer, jsonb, pgTable, text, timestamp, varchar } from 'drizzle-orm/pg-core'

/**
 * The default token table: Laravel Sanctum 4's `personal_access_tokens`, same table, column and index names, so
 * rows Sanctum wrote verify here and the other way round. Export it from your drizzle-kit schema to manage it with
 * your own migrations, or call `migrate(db)`.
 *
 * `tokenable_id` is text so any owner id fits; timestamps keep milliseconds and their time zone; `metadata` (a
 * column Laravel does not have, and ignores) keeps each token's JSON metadata. To share an
 * existing Laravel table (bigint `tokenable_id`, `timestamp(0)` without time zone), define it with `pgTable` and
 * pass it as `drizzleStore(db, { table })`.
 *
 * @example
 * ```ts
 * // drizzle/schema.ts
 * export { personalAccessTokens } from '@jetstream/drizzle/schema'
 * ```
 */
export const personalAccessTokens = pgTable(
  'personal_access_tokens',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    tokenableType: varchar('tokenable_type', { length: 255 }).notNull(),
    tokenableId: text('tokenable_id').notNull(),
    name: text('name').notNull(),
    token: varchar('token', { length: 64 }).notNull().unique('personal_access_tokens_token_unique'),
    abilities: text('abilities'),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, precision: 3 }),
    expiresAt: timestamp('expires_at', { withTimezone: true, precision: 3 }),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull(),
    metadata: jsonb('metadata'),
  },
  (table) => [
    index('personal_access_tokens_tokenable_type_tokenable_id_index').on(
      table.tokenableType,
      table.tokenableId,
    ),
    index('personal_access_tokens_expires_at_index').on(table.expiresAt),
  ],
)

/**
 * The audit trail's table, `token_audit_log` (optional: only `drizzleAuditLog` writes it). One row per
 * `AuditEvent`, never a secret or a hash. Owner and token ids are text, as `tokenable_id` is, so any id fits; the
 * owner is not a foreign key, so the trail outlives the tokens it tells about. Indexed by owner, token and time, and
 * by owner and replaced token (rotations only), for the token page's `recent` list; by time alone for deleting old
 * rows.
 *
 * @example
 * ```ts
 * // drizzle/schema.ts
 * export { personalAccessTokens, tokenAuditLog } from '@jetstream/drizzle/schema'
 * ```
 */
export const tokenAuditLog = pgTable(
  'token_audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedByDefaultAsIdentity(),
    action: varchar('action', { length: 32 }).notNull(),
    at: timestamp('at', { withTimezone: true, precision: 3 }).notNull(),
    actorType: varchar('actor_type', { length: 16 }),
    actorId: text('actor_id'),
    ownerType: varchar('owner_type', { length: 255 }),
    ownerId: text('owner_id'),
    tokenId: text('token_id'),
    previousTokenId: text('previous_token_id'),
    reason: varchar('reason', { length: 32 }),
    count: integer('count'),
    ip: varchar('ip', { length: 64 }),
    userAgent: text('user_agent'),
  },
  (table) => [
    index('token_audit_log_owner_type_owner_id_token_id_at_index').on(
      table.ownerType,
      table.ownerId,
      table.tokenId,
      table.at,
    ),
    index('token_audit_log_owner_type_owner_id_previous_token_id_index')
      .on(table.ownerType, table.ownerId, table.previousTokenId)
      .where(sql`${table.previousTokenId} is not null`),
    index('token_audit_log_at_index').on(table.at),
  ],
)

/**
 * Rate-limit counters kept in PostgreSQL, `token_rate_limits`, in the shape rate-limiter-flexible's
 * `RateLimiterDrizzle` reads and writes: one row per counted key (a policy's prefix and a token id, a user id or a
 * client address; never a secret), its points and when its window ends. For several instances sharing limits
 * without Redis; each request then costs one upsert.
 *
 * @example
 * ```ts
 * import { RateLimiterDrizzle } from 'rate-limiter-flexible'
 *
 * const rateLimit = {
 *   limit: 600,
 *   window: 60,
 *   backend: (options) => new RateLimiterDrizzle({ storeClient: db, schema: tokenRateLimits, ...options }),
 * }
 * ```
 */
export const tokenRateLimits = pgTable('token_rate_limits', {
  key: text('key').primaryKey(),
  points: integer('points').notNull(),
  expire: timestamp('expire', { withTimezone: true, precision: 3 }),
})
