import type { PersonalAccessToken } from './personal-access-token.js'
import type { TransientToken } from './transient-token.js'

/**
 * What a request is authenticated with: an API token, or the transient token of a session request.
 *
 * @example
 * ```ts
 * const token: AccessToken = new TransientToken()
 * ```
 */
export type AccessToken<P extends string = string> = PersonalAccessToken<P> | TransientToken

/**
 * The auth of one request, the same object in every framework: who is signed in, with which token, and
 * `tokenCan` / `tokenCant` (Sanctum's `$user->tokenCan()`).
 *
 * @example
 * ```ts
 * if (auth.tokenCan('update')) await save(post)
 * ```
 */
export interface Auth<U = unknown, P extends string = string> {
  /** The signed-in user, or null for a guest. */
  readonly user: U | null
  /** A {@link PersonalAccessToken} for bearer requests, a {@link TransientToken} for session requests. */
  readonly token: AccessToken<P> | null
  /** True when the request's token holds the ability; false without a token. */
  tokenCan(ability: P): boolean
  /** The negation of `tokenCan` (so true without a token), as in Sanctum. */
  tokenCant(ability: P): boolean
}

/**
 * An {@link Auth} with a user and a token: what policies receive.
 *
 * @example
 * ```ts
 * const update = (auth: SignedIn<User, 'update'>, post: Post) => post.authorId === auth.user.id
 * ```
 */
export interface SignedIn<U = unknown, P extends string = string> extends Auth<U, P> {
  readonly user: U
  readonly token: AccessToken<P>
}

/**
 * Builds the auth object of a request. Adapters call it; tests may too.
 *
 * @example
 * ```ts
 * const auth = createAuth(user, new TransientToken())
 * auth.tokenCan('delete') // true
 * createAuth(null, null).tokenCan('read') // false
 * ```
 */
export function createAuth<U, P extends string = string>(
  user: U | null,
  token: AccessToken<P> | null,
): Auth<U, P> {
  return {
    user,
    token,
    tokenCan: (ability) => token?.can(ability) === true,
    tokenCant: (ability) => token === null || token.cant(ability),
  }
}

/**
 * True when the request has a user and a token.
 *
 * @example
 * ```ts
 * if (!isSignedIn(auth)) throw new UnauthenticatedError()
 * auth.user // typed as U, not U | null
 * ```
 */
export function isSignedIn<U, P extends string>(auth: Auth<U, P>): auth is SignedIn<U, P> {
  return auth.user !== null && auth.user !== undefined && auth.token !== null
}
