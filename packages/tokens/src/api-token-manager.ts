import { isSignedIn } from './auth.js'
import { InvalidInputError, MisconfigurationError, NotFoundError, UnauthenticatedError } from './errors.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import type { RequestAuth } from './request-guard.js'
import type { OwnerInput } from './token-owner.js'
import type { TokenService } from './token-service.js'

/** A token as the management routes show it: never its hash or secret. */
export interface ApiTokenView {
  readonly id: string
  readonly name: string
  readonly abilities: readonly string[]
  readonly lastUsedAt: Date | null
  readonly createdAt: Date
  readonly expiresAt: Date | null
}

/** What a management action answers; adapters send it as JSON. */
export interface ApiTokenResult {
  readonly status: 200 | 201 | 204
  readonly body?: unknown
}

/** Options of the token-management routes. */
export interface ApiTokenManagerOptions<U> {
  /** The owner of the signed-in user's tokens. Default: `user.id` (a user owns their tokens). */
  readonly owner?: (user: U) => OwnerInput
}

/** What every adapter's `apiTokenRoutes(tokens, options)` takes. */
export interface ApiTokenRoutesOptions<U> extends ApiTokenManagerOptions<U> {
  /** Where the routes live. Default `/user/api-tokens`. */
  readonly prefix?: string
  /** The largest JSON body accepted, where the adapter reads bodies itself (Koa, Express). Default `100kb`. */
  readonly bodyLimit?: string
}

/**
 * What Jetstream's API-token page does, without a framework: list, create, change the permissions of, and delete
 * the signed-in user's own tokens. Adapters mount it as routes (`apiTokenRoutes`).
 *
 * - Permissions are filtered through the registry's `validPermissions`, as Jetstream does.
 * - No escalation: a request made with a token may only grant abilities that token holds; a session request may
 *   grant any defined permission.
 * - Another user's token, or an unknown id, is a 404.
 *
 * @example
 * ```ts
 * const manager = new ApiTokenManager(tokens)
 * const { status, body } = await manager.create(auth, { name: 'CI', permissions: ['read'] }) // 201
 * ```
 */
export class ApiTokenManager<U, P extends string> {
  readonly #tokens: TokenService<P>
  readonly #owner: (user: U) => OwnerInput

  constructor(tokens: TokenService<P>, options: ApiTokenManagerOptions<U> = {}) {
    if (typeof tokens?.create !== 'function') {
      throw new MisconfigurationError(
        'The token routes need the token service: apiTokenRoutes(createTokens({ … })).',
      )
    }
    this.#tokens = tokens
    this.#owner =
      options.owner ??
      ((user) => {
        const id = (user as { id?: unknown } | null)?.id
        if (typeof id !== 'string' && typeof id !== 'number' && typeof id !== 'bigint') {
          throw new MisconfigurationError(
            'The signed-in user has no `id`: pass `owner: (user) => …` to apiTokenRoutes.',
          )
        }
        return id
      })
  }

  /**
   * `GET`: the user's tokens, newest first, with the permissions a new token may carry and those ticked by default.
   *
   * @example
   * ```ts
   * (await manager.list(auth)).body // { tokens: [...], availablePermissions: [...], defaultPermissions: ['read'] }
   * ```
   */
  async list(auth: RequestAuth<U, P>): Promise<ApiTokenResult> {
    const owner = this.#signedIn(auth)
    const tokens = await this.#tokens.list(owner)
    return {
      status: 200,
      body: {
        tokens: tokens.map(view),
        availablePermissions: this.#tokens.permissions?.permissions ?? [],
        defaultPermissions: this.#tokens.permissions?.defaults ?? [],
      },
    }
  }

  /**
   * `POST {name, permissions, expiresAt?}`: a new token; the plain text is in this answer only.
   *
   * @example
   * ```ts
   * (await manager.create(auth, { name: 'CI', permissions: ['read'] })).body // { token, plainTextToken }
   * ```
   */
  async create(auth: RequestAuth<U, P>, input: unknown): Promise<ApiTokenResult> {
    const owner = this.#signedIn(auth)
    const body = fields(input)
    const { token, plainTextToken } = await this.#tokens.create(
      owner,
      body.name as string,
      this.#permissions(body.permissions),
      {
        expiresAt: expiry(body.expiresAt),
        grantedBy: auth.token,
      },
    )
    return { status: 201, body: { token: view(token), plainTextToken } }
  }

  /**
   * `PUT /:id {permissions}`: replaces a token's permissions.
   *
   * @throws NotFoundError (404) for another user's token or an unknown id.
   * @example
   * ```ts
   * (await manager.update(auth, '7', { permissions: ['read', 'update'] })).body // { token }
   * ```
   */
  async update(auth: RequestAuth<U, P>, id: string, input: unknown): Promise<ApiTokenResult> {
    const owner = this.#signedIn(auth)
    const body = fields(input)
    const token = await this.#tokens.update(owner, id, {
      // A body without permissions (a rename) leaves them as they are.
      ...(body.permissions !== undefined && { abilities: this.#permissions(body.permissions) }),
      ...(body.name !== undefined && { name: body.name as string }),
      grantedBy: auth.token,
    })
    if (!token) throw new NotFoundError('No such token.')
    return { status: 200, body: { token: view(token) } }
  }

  /**
   * `DELETE /:id`: revokes a token.
   *
   * @throws NotFoundError (404) for another user's token or an unknown id.
   * @example
   * ```ts
   * (await manager.delete(auth, '7')).status // 204
   * ```
   */
  async delete(auth: RequestAuth<U, P>, id: string): Promise<ApiTokenResult> {
    const owner = this.#signedIn(auth)
    if (!(await this.#tokens.revoke(owner, id))) throw new NotFoundError('No such token.')
    return { status: 204 }
  }

  #signedIn(auth: RequestAuth<U, P>): OwnerInput {
    if (!isSignedIn(auth)) throw new UnauthenticatedError({ tokenRejected: auth.tokenRejected })
    return this.#owner(auth.user)
  }

  // Jetstream's filter: undefined permissions are dropped, not refused. Without a registry, the list is checked
  // by the service instead.
  #permissions(input: unknown): P[] {
    if (input === undefined) return []
    if (!Array.isArray(input))
      throw new InvalidInputError({ permissions: ['The permissions field must be a list.'] })
    const registry = this.#tokens.permissions
    return registry ? registry.validPermissions(input) : (input as P[])
  }
}

function view(token: PersonalAccessToken): ApiTokenView {
  return {
    id: token.id,
    name: token.name,
    abilities: token.abilities,
    lastUsedAt: token.lastUsedAt,
    createdAt: token.createdAt,
    expiresAt: token.expiresAt,
  }
}

function fields(input: unknown): Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InvalidInputError({ name: ['The name field is required.'] })
  }
  return input as Record<string, unknown>
}

function expiry(input: unknown): Date | null {
  if (input === undefined || input === null || input === '') return null
  const date = typeof input === 'string' || typeof input === 'number' ? new Date(input) : null
  if (!date || Number.isNaN(date.getTime())) {
    throw new InvalidInputError({ expiresAt: ['The expires at field must be a valid date.'] })
  }
  return date
}
