/**
 * Who owns a token: a user, a team, an organisation… (Sanctum's polymorphic `tokenable`).
 *
 * @example
 * ```ts
 * const owner: TokenOwner = { type: 'team', id: '7' }
 * ```
 */
export interface TokenOwner {
  readonly type: string
  readonly id: string
}

/**
 * An owner as callers may write it: a bare id (the service's default owner type, `user`, is assumed) or a
 * `{ type, id }` pair. Numeric ids are kept as their decimal text.
 *
 * @example
 * ```ts
 * await tokens.create(42, 'CLI')                         // { type: 'user', id: '42' }
 * await tokens.create({ type: 'team', id: 7 }, 'Deploys') // { type: 'team', id: '7' }
 * ```
 */
export type OwnerInput =
  | string
  | number
  | bigint
  | { readonly type?: string; readonly id: string | number | bigint }
