import { type Auth, isSignedIn } from './auth.js'
import type { RegisteredPermission, RegisteredUser } from './register.js'

/**
 * One rule for one action on one kind of resource, written once and used by every adapter.
 *
 * @example
 * ```ts
 * const updatePost: Policy<User, Permission, Post> = (auth, post) =>
 *   auth.tokenCan('update') && post.authorId === auth.user.id
 * ```
 */
export type Policy<U = RegisteredUser, P extends string = RegisteredPermission, R = unknown> = (
  auth: Auth<U, P>,
  resource: R,
) => boolean | Promise<boolean>

/**
 * Groups the policies of one resource by action. It only checks and keeps the types; the object is returned as is.
 *
 * @example
 * ```ts
 * export const posts = definePolicies({
 *   view: (auth: Auth, _post: Post) => auth.tokenCan('read'),
 *   update: (auth: Auth, post: Post) => auth.tokenCan('update') && post.authorId === auth.user.id,
 * })
 * ```
 */
export function definePolicies<
  const T extends Record<string, (auth: never, resource: never) => boolean | Promise<boolean>>,
>(policies: T): T {
  return policies
}

/**
 * Asks a policy and returns its answer, for showing or hiding things. A guest is never allowed. To refuse the
 * request instead, use `auth.authorize(policy, resource)`.
 *
 * @example
 * ```ts
 * if (await allows(auth, posts.update, post)) showEditButton()
 * ```
 */
export async function allows<U, P extends string, R>(
  auth: Auth<U | null, P>,
  policy: Policy<U, P, R>,
  resource: R,
): Promise<boolean> {
  return isSignedIn(auth) && (await policy(auth, resource)) === true
}
