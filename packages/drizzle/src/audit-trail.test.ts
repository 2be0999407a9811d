import { createHash } from 'node:crypto'
import { createTokens, PersonalAccessToken } from '@jetstream/tokens'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleAuditLog } from './audit-log.js'
import { drizzleStore } from './drizzle-token-store.js'
import { localAndServer, type TestDatabase } from './test-support/databases.js'

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const session = { actor: { type: 'user' as const, id: '42' }, ip: '198.51.100.4', userAgent: 'Mozilla/5.0' }

describe.each(localAndServer())('the audit trail behind the token service, on %s', (_, open) => {
  let database: TestDatabase
  beforeAll(async () => {
    database = await open()
  }, 60_000)
  afterAll(() => database.close(), 60_000)

  it('writes a row per action of a scripted sequence, with nothing secret in any of them', async () => {
    const audit = drizzleAuditLog(database.db)
    const tokens = createTokens({ store: drizzleStore(database.db), audit, lastUsed: false })
    const made = await tokens.create('42', 'deploy', ['read'], { context: session })
    const used = await tokens.authenticate(made.plainTextToken)
    expect(used).toBeInstanceOf(PersonalAccessToken)
    expect(await tokens.authenticate(`${made.token.id}|${'A'.repeat(40)}00000000`)).toBeNull()
    await tokens.update('42', made.token.id, { name: 'deploy bot', context: session })
    const next = await tokens.rotate('42', made.token.id, { grace: 5, context: session })
    await tokens.revoke('42', made.token.id, { context: session })
    await tokens.prune({ hours: 24 })
    await audit.close()

    const result = await database.db.execute(
      sql`select action, actor_type, actor_id, owner_id, token_id, previous_token_id, reason, count, ip, user_agent
          from token_audit_log order by id`,
    )
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as Record<
      string,
      unknown
    >[]
    expect(rows.map((row) => [row.action, row.token_id, row.actor_type, row.reason])).toEqual([
      ['created', made.token.id, 'user', null],
      ['authenticated', made.token.id, 'token', null],
      ['refused', null, null, 'malformed'],
      ['updated', made.token.id, 'user', null],
      ['rotated', next?.token.id, 'user', null],
      ['revoked', made.token.id, 'user', null],
      ['pruned', null, null, null],
    ])
    expect(rows[0]).toMatchObject({ owner_id: '42', ip: '198.51.100.4', user_agent: 'Mozilla/5.0' })
    expect(rows[4]?.previous_token_id).toBe(made.token.id)
    const recent = await drizzleAuditLog(database.db).recent({ type: 'user', id: '42' }, made.token.id, 10)
    expect(recent.map((event) => event.action)).toEqual([
      'revoked',
      'rotated',
      'updated',
      'authenticated',
      'created',
    ])
    const text = JSON.stringify(rows)
    for (const plain of [made.plainTextToken, next?.plainTextToken ?? '']) {
      const secret = plain.slice(plain.indexOf('|') + 1)
      expect(text).not.toContain(secret)
      expect(text).not.toContain(sha256(secret))
    }
  })
})
