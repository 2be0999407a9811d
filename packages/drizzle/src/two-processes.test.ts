import { type ChildProcess, fork } from 'node:child_process'
import { createTokens } from '@jetstream/tokens'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleStore } from './drizzle-token-store.js'
import { postgresJsDatabase, serverUrl, type TestDatabase } from './test-support/databases.js'

interface Answer {
  readonly abilities: string[] | null
  readonly fromCache: boolean
}

describe.skipIf(!serverUrl)('two processes sharing PostgreSQL, each with a verification cache', () => {
  let database: TestDatabase & { schema: string }
  let b: ChildProcess
  let next = 0
  const pending = new Map<number, (answer: Answer) => void>()

  beforeAll(async () => {
    database = await postgresJsDatabase(serverUrl as string)
    b = fork(new URL('./test-support/instance-b.mjs', import.meta.url), [
      serverUrl as string,
      database.schema,
    ])
    await new Promise<void>((resolve) => {
      b.on('message', (message: { ready?: boolean; id?: number } & Answer) => {
        if (message.ready) resolve()
        else pending.get(message.id as number)?.(message)
      })
    })
  })
  afterAll(async () => {
    b.disconnect()
    await new Promise((resolve) => b.once('exit', resolve))
    await database.close()
  })

  /** Instance B's answer for a token, from the other process. */
  function askB(token: string): Promise<Answer> {
    const id = next++
    return new Promise((resolve) => {
      pending.set(id, resolve)
      b.send({ id, token })
    })
  }

  async function until(ms: number, check: () => Promise<boolean>): Promise<number> {
    const started = Date.now()
    while (Date.now() - started < ms) {
      if (await check()) return Date.now() - started
    }
    throw new Error(`not within ${ms} ms`)
  }

  it('B refuses within a second what A revokes, sees what A changes, and follows plain SQL and a killed connection', async () => {
    const a = createTokens({ store: drizzleStore(database.db), cache: true, lastUsed: false })
    const revoked = await a.create('42', 'revoked', ['read'])
    const widened = await a.create('42', 'widened', ['read'])
    const deleted = await a.create('42', 'deleted', ['read'])
    for (const token of [revoked, widened, deleted]) {
      expect((await a.authenticate(token.plainTextToken))?.abilities).toEqual(['read'])
      // Verified on B too, and then answered from B's cache.
      await until(3_000, async () => (await askB(token.plainTextToken)).fromCache)
    }

    await a.revoke('42', revoked.token.id)
    expect(
      await until(1_000, async () => (await askB(revoked.plainTextToken)).abilities === null),
    ).toBeLessThan(1_000)

    await a.update('42', widened.token.id, { abilities: ['read', 'update'] })
    await until(
      1_000,
      async () => (await askB(widened.plainTextToken)).abilities?.includes('update') === true,
    )

    await database.exec(`delete from personal_access_tokens where id = ${Number(deleted.token.id)}`)
    await until(1_000, async () => (await askB(deleted.plainTextToken)).abilities === null)

    // Kill B's listening connection: B stops answering from its cache, then trusts it again once it listens anew.
    await until(3_000, async () => (await askB(widened.plainTextToken)).fromCache)
    await database.exec(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where application_name = 'jetstream_b_${database.schema}' and query ilike 'listen%'`,
    )
    await until(2_000, async () => !(await askB(widened.plainTextToken)).fromCache)
    await until(5_000, async () => (await askB(widened.plainTextToken)).fromCache)
    await a.close()
  })
})
