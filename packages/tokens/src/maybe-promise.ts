/**
 * A value now, or a promise of it: what a store's lookups and an app's `session` and `user` functions may return.
 * Answering at once where nothing is awaited (a store in memory, a user already on the request) spares the
 * request a promise.
 *
 * @example
 * ```ts
 * const findUser = (id: string): MaybePromise<User | null> => cache.get(id) ?? db.users.find(id)
 * ```
 */
export type MaybePromise<T> = T | PromiseLike<T>

/**
 * True for a promise or any other thenable (a query builder that runs when awaited, say), as `await` sees it.
 *
 * @example
 * ```ts
 * const found = findUser(id)
 * const user = isPromiseLike(found) ? await found : found
 * ```
 */
export function isPromiseLike<T>(value: MaybePromise<T>): value is PromiseLike<T> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  )
}
