import { type PgColumnBuilderBase, pgSchema, pgTable, text, timestamp, varchar } from 'drizzle-orm/pg-core'

/**
 * A token table like the exported one but for its id column, so a test can key tokens by uuid, text or a bigint
 * read as `bigint`, or name it in a schema of its own. The SQL table is the test's to create (`create table … (like
 * personal_access_tokens)`).
 */
export function tokenTableKeyedBy<Id extends PgColumnBuilderBase>(name: string, id: Id, schema?: string) {
  const columns = {
    id,
    tokenableType: varchar('tokenable_type', { length: 255 }).notNull(),
    tokenableId: text('tokenable_id').notNull(),
    name: text('name').notNull(),
    token: varchar('token', { length: 64 }).notNull(),
    abilities: text('abilities'),
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, precision: 3 }),
    expiresAt: timestamp('expires_at', { withTimezone: true, precision: 3 }),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull(),
  }
  return schema === undefined ? pgTable(name, columns) : pgSchema(schema).table(name, columns)
}
