/**
 * The token of a first-party request: a user signed in through the app's own session (Sanctum's
 * `TransientToken`). It can do everything, so policies may always call `tokenCan` without asking how the user
 * signed in.
 *
 * @example
 * ```ts
 * new TransientToken().can('anything') // true
 * new TransientToken().cant('anything') // false
 * ```
 */
export class TransientToken {
  /** Lets code tell a session request from a token request without `instanceof`. */
  readonly transient = true as const
  /** A session carries no metadata; there so policies may read `auth.token.metadata` whatever the token. */
  readonly metadata = null

  /**
   * Always true.
   *
   * @example
   * ```ts
   * new TransientToken().can('delete') // true
   * ```
   */
  can(_ability: string): boolean {
    return true
  }

  /**
   * Always false.
   *
   * @example
   * ```ts
   * new TransientToken().cant('delete') // false
   * ```
   */
  cant(_ability: string): boolean {
    return false
  }

  /**
   * @example
   * ```ts
   * JSON.stringify(new TransientToken()) // {"transient":true}
   * ```
   */
  toJSON(): { transient: true } {
    return { transient: true }
  }
}

/**
 * True for a {@link TransientToken}, by its `transient` mark rather than `instanceof`, so a token from another
 * installed copy of this package counts too.
 *
 * @example
 * ```ts
 * isTransientToken(auth.token) // true for a session request
 * ```
 */
export function isTransientToken(token: unknown): token is TransientToken {
  return (token as { transient?: unknown } | null)?.transient === true
}
