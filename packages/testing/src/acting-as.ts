import {
  type Auth,
  type Grant,
  PersonalAccessToken,
  type RegisteredPermission,
  type TokenMetadata,
  TransientToken,
} from '@jetstream/tokens'
import { createAuth } from '@jetstream/tokens/adapter'

/**
 * Options of {@link actingAs}.
 *
 * @example
 * ```ts
 * actingAs(team, ['read'], { owner: { type: 'team', id: team.id } })
 * ```
 */
export interface ActingAsOptions {
  /** The token's owner; default `{ type: 'user', id: String(user.id) }`. */
  readonly owner?: { readonly type: string; readonly id: string }
  /** Read `posts:*` as a scope, as a registry with `scopes: true` does. Default false. */
  readonly scopes?: boolean
  /** The token's metadata. Default none. */
  readonly metadata?: TokenMetadata
}

/**
 * The auth of a user holding a token with `abilities`, without a store or a database (Sanctum's
 * `Sanctum::actingAs($user, ['read'])`): the same object a handler receives as `c.var.auth`, `ctx.state.auth`
 * or `req.auth`, `authorize` included. Pass `'session'` for a first-party session request (a `TransientToken`).
 *
 * @example
 * ```ts
 * const auth = actingAs({ id: '42' }, ['read'])
 * expect(await allows(auth, posts.update, post)).toBe(false)
 * await expect(auth.authorize(posts.update, post)).rejects.toThrow(ForbiddenError)
 * actingAs({ id: '42' }, 'session').tokenCan('delete') // true
 * actingAs({ id: '42' }, ['posts:*'], { scopes: true }).tokenCan('posts:read') // true
 * ```
 */
export function actingAs<U, P extends string = RegisteredPermission>(
  user: U,
  abilities: readonly Grant<P>[] | 'session' = [],
  options: ActingAsOptions = {},
): Auth<U, P> {
  if (abilities === 'session') return createAuth<U, P>(user, new TransientToken())
  const id = (user as { id?: unknown } | null)?.id
  const token = new PersonalAccessToken<P>(
    {
      id: 'acting-as',
      owner: options.owner ?? { type: 'user', id: id === undefined || id === null ? '' : String(id) },
      name: 'actingAs',
      abilities,
      lastUsedAt: null,
      expiresAt: null,
      createdAt: new Date(),
      metadata: options.metadata ?? null,
    },
    { scopes: options.scopes === true },
  )
  return createAuth<U, P>(user, token)
}
