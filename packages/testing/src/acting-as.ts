import { type Auth, createAuth, PersonalAccessToken, TransientToken } from '@jetstream/tokens'

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
}

/**
 * An auth object for a user holding a token with `abilities`, without a store or a database (Sanctum's
 * `Sanctum::actingAs($user, ['read'])`). Pass `'session'` for a first-party session request (a `TransientToken`).
 *
 * @example
 * ```ts
 * const auth = actingAs({ id: '42' }, ['read'])
 * expect(await allows(auth, posts.update, post)).toBe(false)
 * actingAs({ id: '42' }, 'session').tokenCan('delete') // true
 * ```
 */
export function actingAs<U, P extends string = string>(
  user: U,
  abilities: readonly (P | '*')[] | 'session' = [],
  options: ActingAsOptions = {},
): Auth<U, P> {
  if (abilities === 'session') return createAuth<U, P>(user, new TransientToken())
  const id = (user as { id?: unknown } | null)?.id
  const token = new PersonalAccessToken<P>({
    id: 'acting-as',
    owner: options.owner ?? { type: 'user', id: id === undefined || id === null ? '' : String(id) },
    name: 'actingAs',
    abilities,
    lastUsedAt: null,
    expiresAt: null,
    createdAt: new Date(),
  })
  return createAuth<U, P>(user, token)
}
