import type postgres from 'postgres'

/**
 * Takes an ACCESS EXCLUSIVE lock on `table` in a transaction on one of `client`'s connections, as a migration
 * would, and holds it until `release`: statements on the table wait meanwhile. Resolves once the lock is held.
 *
 * @example
 * ```ts
 * const lock = await lockTable(admin, 'personal_access_tokens')
 * try { … } finally { await lock.release() }
 * ```
 */
export async function lockTable(client: postgres.Sql, table: string): Promise<{ release(): Promise<void> }> {
  let release = () => {}
  const held = new Promise<void>((resolve) => (release = resolve))
  let locked = () => {}
  const isLocked = new Promise<void>((resolve) => (locked = resolve))
  const transaction = client.begin(async (tx) => {
    await tx.unsafe(`lock table ${table} in access exclusive mode`)
    locked()
    await held
  })
  // A lock that cannot be taken fails the transaction: that rejection, rather than a wait for ever.
  await Promise.race([isLocked, transaction])
  return {
    release: async () => {
      release()
      await transaction
    },
  }
}
