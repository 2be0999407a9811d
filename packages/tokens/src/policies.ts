import { type Auth, isSignedIn, type SignedIn } from './auth.js'
import { ForbiddenError, UnauthenticatedError } from './errors.js'

/**
 * One rule for one action on one kind of resource, written once and used by every adapter.
 *
 * @example
 * ```ts
 * const updatePost: Policy<User, Permission, Post> = (auth, post) =>
 *   auth.tokenCan('update') && post.authorId === auth.user.id
 * ```
 */
export type Policy<U, P extends string, R> = (auth: SignedIn<U, P>, resource: R) => boolean | Promise<boolean>

/**
 * Groups the policies of one resource by action. It only checks and keeps the types; the object is returned as is.
 *
 * @example
 * ```ts
 * type AppAuth = SignedIn<User, 'create' | 'read' | 'update' | 'delete'>
 * export const posts = definePolicies({
 *   view: (auth: AppAuth, _post: Post) => auth.tokenCan('read'),
 *   update: (auth: AppAuth, post: Post) => auth.tokenCan('update') && post.authorId === auth.user.id,
 * })
 * ```
 */
export function definePolicies<
  const T extends Record<string, (auth: never, resource: never) => boolean | Promise<boolean>>,
>(policies: T): T {
  return policies
}

/**
 * Asks a policy. A guest is never allowed.
 *
 * @example
 * ```ts
 * if (await allows(auth, posts.update, post)) showEditButton()
 * ```
 */
export async function allows<U, P extends string, R>(
  auth: Auth<U, P>,
  policy: Policy<U, P, R>,
  resource: R,
): Promise<boolean> {
  return isSignedIn(auth) && (await policy(auth, resource)) === true
}

/**
 * Asks a policy and throws when it says no: {@link UnauthenticatedError} (401) for a guest, {@link ForbiddenError}
 * (403) for a refusal. Adapters expose it as `auth.authorize(policy, resource)`.
 *
 * @example
 * ```ts
 * await authorize(auth, posts.update, post)
 * ```
 */
export async function authorize<U, P extends string, R>(
  auth: Auth<U, P>,
  policy: Policy<U, P, R>,
  resource: R,
): Promise<void> {
  if (!isSignedIn(auth)) throw new UnauthenticatedError()
  if ((await policy(auth, resource)) !== true) throw new ForbiddenError()
}
