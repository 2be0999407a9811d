import { MisconfigurationError } from './errors.js'

/**
 * What a {@link PermissionRegistry} is built from.
 *
 * @example
 * ```ts
 * const options: PermissionRegistryOptions<'create' | 'read'> = { permissions: ['create', 'read'], defaults: ['read'] }
 * ```
 */
export interface PermissionRegistryOptions<P extends string> {
  /** Every permission a token may carry (Jetstream's `Jetstream::permissions([...])`). */
  readonly permissions: readonly P[]
  /** Permissions pre-selected for new tokens (Jetstream's `defaultApiTokenPermissions([...])`). Default: none. */
  readonly defaults?: readonly NoInfer<P>[]
  /**
   * Lets tokens hold scopes: `posts:*` grants every permission under `posts:` (`posts:read`, `posts:update:own`).
   * Only scopes that stand above a defined permission are valid. Off by default, as in Sanctum, where `posts:*`
   * is a name like any other.
   */
  readonly scopes?: boolean
}

/**
 * The scopes above a permission name: `'posts:*' | 'posts:update:*'` for `'posts:update:own'`.
 *
 * @example
 * ```ts
 * const scope: ScopeOf<'posts:update:own'> = 'posts:update:*'
 * ```
 */
export type ScopeOf<P extends string> = P extends `${infer Head}:${infer Rest}`
  ? `${Head}:*` | `${Head}:${ScopeOf<Rest>}`
  : never

/**
 * What a token may be granted: a permission, a scope above one (with `scopes` on), or `'*'` for everything.
 *
 * @example
 * ```ts
 * const abilities: Grant<'posts:read' | 'posts:delete'>[] = ['posts:*']
 * ```
 */
export type Grant<P extends string> = P | ScopeOf<P> | '*'

// A permission name travels in RFC 6750 `scope="…"` (space-separated, quoted) and in JSON: keep it a plain word.
const permissionName = /^[^\s"\\\p{Cc}*][^\s"\\\p{Cc}]{0,254}$/u

/**
 * The permissions tokens may carry, defined once for the whole app, and the defaults ticked for a new token.
 *
 * Built from a literal list, the names are typed: `tokenCan('raed')` does not compile.
 *
 * @example
 * ```ts
 * const permissions = new PermissionRegistry({
 *   permissions: ['create', 'read', 'update', 'delete'],
 *   defaults: ['read'],
 * })
 * permissions.validPermissions(['read', 'fly', 'read', 'delete']) // ['read', 'delete']
 * ```
 */
export class PermissionRegistry<const P extends string = string> {
  /** Every defined permission, in the order given. */
  readonly permissions: readonly P[]
  /** The permissions pre-selected for a new token. */
  readonly defaults: readonly P[]
  /** Whether tokens may hold scopes such as `posts:*` (see {@link PermissionRegistryOptions.scopes}). */
  readonly scopes: boolean
  readonly #defined: ReadonlySet<string>
  readonly #grantable: ReadonlySet<string>

  constructor(options: PermissionRegistryOptions<P>) {
    const permissions = [...options.permissions]
    const defaults = [...(options.defaults ?? [])]
    const defined = new Set<string>()
    for (const permission of permissions) {
      if (typeof permission !== 'string' || !permissionName.test(permission)) {
        throw new MisconfigurationError(
          `Permission ${JSON.stringify(permission)} is not a valid name: use 1 to 255 characters without spaces, double quotes or backslashes, not starting with "*".`,
        )
      }
      if (defined.has(permission)) {
        throw new MisconfigurationError(`Permission "${permission}" is defined twice.`)
      }
      defined.add(permission)
    }
    for (const permission of defaults) {
      if (!defined.has(permission)) {
        throw new MisconfigurationError(
          `Default permission ${JSON.stringify(permission)} is not one of the defined permissions (${permissions.join(', ') || 'none'}).`,
        )
      }
    }
    if (new Set(defaults).size !== defaults.length) {
      throw new MisconfigurationError('A default permission is listed twice.')
    }
    this.permissions = Object.freeze(permissions)
    this.defaults = Object.freeze(defaults)
    this.#defined = defined
    this.scopes = options.scopes === true
    const grantable = new Set<string>(defined)
    if (this.scopes) {
      for (const permission of permissions) {
        if (permission.endsWith(':*')) {
          throw new MisconfigurationError(
            `Permission "${permission}" reads as a scope: with \`scopes\` on, names ending in ":*" are scopes, not permissions.`,
          )
        }
        for (let end = permission.indexOf(':'); end !== -1; end = permission.indexOf(':', end + 1)) {
          grantable.add(`${permission.slice(0, end)}:*`)
        }
      }
    }
    this.#grantable = grantable
  }

  /**
   * True when any permission is defined (Jetstream shows the permission checkboxes only then).
   *
   * @example
   * ```ts
   * new PermissionRegistry({ permissions: [] }).hasPermissions() // false
   * ```
   */
  hasPermissions(): boolean {
    return this.permissions.length > 0
  }

  /**
   * True when `value` names a defined permission.
   *
   * @example
   * ```ts
   * permissions.has('read') // true
   * permissions.has('READ') // false: names are case-sensitive
   * ```
   */
  has(value: unknown): value is P {
    return typeof value === 'string' && this.#defined.has(value)
  }

  /**
   * True when a token may be granted `value`: a defined permission or, with `scopes` on, a scope above one.
   *
   * @example
   * ```ts
   * new PermissionRegistry({ permissions: ['posts:read'], scopes: true }).grants('posts:*') // true
   * ```
   */
  grants(value: unknown): value is P | ScopeOf<P> {
    return typeof value === 'string' && value !== '*' && this.#grantable.has(value)
  }

  /**
   * Keeps only the defined permissions of `input` (and its valid scopes, with `scopes` on), without duplicates,
   * in the order given (Jetstream's `validPermissions`). Anything that is not an array gives `[]`, so raw request
   * input may be passed.
   *
   * @example
   * ```ts
   * permissions.validPermissions(['delete', 'fly', 'read', 'delete']) // ['delete', 'read']
   * permissions.validPermissions('read') // []
   * ```
   */
  validPermissions(input: unknown): (P | ScopeOf<P>)[] {
    if (!Array.isArray(input)) return []
    const kept = new Set<P | ScopeOf<P>>()
    for (const item of input) if (this.grants(item)) kept.add(item)
    return [...kept]
  }
}
