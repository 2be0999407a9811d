import {
  type Auth,
  type Grant,
  MisconfigurationError,
  type PermissionRegistry,
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
  /**
   * The app's registry: each ability must be one of its permissions or a scope it grants, as the service would
   * require of a real token, and scopes are read as it reads them. Default: none, any name.
   */
  readonly permissions?: PermissionRegistry<string>
  /**
   * Whether `'*'` may be held: as the service's option of the same name, true without a registry, false with one,
   * so a test cannot act with a token the app could never issue.
   */
  readonly allowWildcard?: boolean
  /** Read `posts:*` as a scope, as a registry with `scopes: true` does. Default: the registry's, else false. */
  readonly scopes?: boolean
  /** The token's metadata, copied through JSON as a real token's is (a `Date` becomes its text). Default none. */
  readonly metadata?: TokenMetadata
}

/**
 * The auth of a user holding a token with `abilities`, without a store or a database (Sanctum's
 * `Sanctum::actingAs($user, ['read'])`): the same object a handler receives as `c.var.auth`, `ctx.state.auth`
 * or `req.auth`, `authorize` included. Pass `'session'` for a first-party session request (a `TransientToken`). A
 * null user is a guest, as the guard makes one: no token, so `tokenCan` is false.
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
  // Not inferred from the list: with the app's registered permissions, `['raed']` does not compile.
  abilities: readonly NoInfer<Grant<P>>[] | 'session' = [],
  options: ActingAsOptions = {},
): Auth<U, P> {
  // Any falsy user is a guest, as the guard reads what `session` and `user` return.
  if (!user) return createAuth<U, P>(user, null)
  if (abilities === 'session') return createAuth<U, P>(user, new TransientToken())
  const registry = options.permissions
  const allowWildcard = options.allowWildcard ?? registry === undefined
  if (!allowWildcard && abilities.includes('*')) {
    throw new MisconfigurationError(
      'actingAs: "*" is refused with a registry, as the service refuses it: pass `allowWildcard: true` where the app does.',
    )
  }
  const undefinedAbility =
    registry && abilities.find((ability) => ability !== '*' && !registry.grants(ability))
  if (undefinedAbility !== undefined) {
    throw new MisconfigurationError(
      `actingAs: ${JSON.stringify(undefinedAbility)} is not a permission of the registry, so no real token could hold it.`,
    )
  }
  const id = (user as { id?: unknown }).id
  const token = new PersonalAccessToken<P>(
    {
      id: 'acting-as',
      owner: options.owner ?? { type: 'user', id: id === undefined || id === null ? '' : String(id) },
      name: 'actingAs',
      abilities,
      lastUsedAt: null,
      expiresAt: null,
      createdAt: new Date(),
      metadata:
        options.metadata === undefined
          ? null
          : (JSON.parse(JSON.stringify(options.metadata)) as TokenMetadata),
    },
    { scopes: options.scopes ?? registry?.scopes ?? false },
  )
  return createAuth<U, P>(user, token)
}
