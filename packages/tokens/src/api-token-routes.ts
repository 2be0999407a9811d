import type { AuditContext, AuditEvent } from './audit-log.js'
import {
  type AccessToken,
  type Auth,
  clientOf,
  guestRefusal,
  isSignedIn,
  realmOf,
  requireAuth,
  userIdOf,
} from './auth.js'
import {
  InvalidInputError,
  MethodNotAllowedError,
  MisconfigurationError,
  MissingAbilitiesError,
  NotFoundError,
  SessionRequiredError,
} from './errors.js'
import { errorAnswer, HttpAnswer, isRefusal, jsonAnswer, noContent } from './http-answer.js'
import { parseIsoDate } from './iso-date.js'
import type { Grant } from './permission-registry.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import { isTokenId } from './plain-text-token.js'
import type { RegisteredPermission, RegisteredUser } from './register.js'
import { type RequestBody, readJsonObject } from './request-body.js'
import type { OwnerInput } from './token-owner.js'
import type { TokenService } from './token-service.js'
import type { TokenMetadata } from './token-store.js'
import { isTransientToken } from './transient-token.js'

/**
 * A token as the management routes show it: never its hash or secret.
 *
 * @example
 * ```ts
 * const view: ApiTokenView = { id: '7', name: 'CI', abilities: ['read'], lastUsedAt: null, createdAt, expiresAt: null, expired: false, metadata: null }
 * ```
 */
export interface ApiTokenView {
  readonly id: string
  readonly name: string
  readonly abilities: readonly string[]
  readonly lastUsedAt: Date | null
  readonly createdAt: Date
  readonly expiresAt: Date | null
  /** True once the token no longer authenticates by time (its expiry, the service's `expiration`, idleness). */
  readonly expired: boolean
  readonly metadata: TokenMetadata | null
}

/**
 * What every adapter's `apiTokenRoutes(tokens, options)` takes.
 *
 * @example
 * ```ts
 * apiTokenRoutes(tokens, { prefix: '/settings/api-tokens', bearerAbility: 'tokens:manage' })
 * ```
 */
export interface ApiTokenRoutesOptions<U = RegisteredUser, P extends string = RegisteredPermission> {
  /** Where the routes live. Default `/user/api-tokens`. */
  readonly prefix?: string
  /** The owner of the signed-in user's tokens. Default: `user.id` (a user owns their tokens). */
  readonly owner?: (user: U) => OwnerInput
  /**
   * Lets API tokens manage tokens, when they hold this ability. Off by default: as in Jetstream, only the user's
   * own session (a `TransientToken`) may list, create, change or delete tokens, and a bearer request gets 403
   * `session_required`.
   *
   * The risk of turning it on: whoever holds such a token (a script, a CI job, a third party it leaked to) can list
   * the owner's tokens, delete them, and mint new ones. A token still never makes a token that outranks it (only
   * its own abilities) or outlives it (the new expiry is clamped to its own end), and may add abilities only to
   * tokens that end no later than it does. Grant the ability to as few tokens as you can, with an expiry.
   */
  readonly bearerAbility?: P
  /** The largest request body in bytes. Default 102400 (100 kB). */
  readonly bodyLimit?: number
}

/**
 * A request to the management routes, as an adapter hands it over.
 *
 * @example
 * ```ts
 * const request: ApiTokenRequest<User, Permission> = { method: 'GET', path: '/', header: () => undefined, body: null, auth }
 * ```
 */
export interface ApiTokenRequest<U = RegisteredUser, P extends string = RegisteredPermission> {
  /** The HTTP method, any case. */
  readonly method: string
  /** The path below the prefix, still percent-encoded as it arrived: `''` or `/` for the list, `/7` for a token. */
  readonly path: string
  /** A request header by lower-case name. */
  header(name: string): string | undefined
  /** The body, unread. */
  readonly body: RequestBody
  /**
   * The client's address as the framework knows it, for the audit trail when `auth` carries none (the guard's own,
   * read through its `clientAddress`, comes first); undefined when unknown.
   */
  readonly address?: string
  /** The auth the adapter's `auth(...)` middleware set, or undefined when it did not run (a wiring mistake). */
  readonly auth: Auth<U | null, P> | undefined
}

const COLLECTION = ['GET', 'HEAD', 'POST'] as const
const ITEM = ['PUT', 'DELETE'] as const
const ACTION = ['POST'] as const
const READ = ['GET', 'HEAD'] as const
const DEFAULT_LIMIT = 102_400

/**
 * Jetstream's API-token routes, without a framework: list, create, change and delete the signed-in user's own
 * tokens. It reads and judges the whole request (route, method, who is asking, id, body) and builds every answer,
 * so Hono, Koa and Express answer alike; an adapter only forwards what arrives below the prefix.
 *
 * - `GET ''`: the tokens, newest first, with the permissions a new token may carry and those ticked by default.
 * - `POST '' {name, permissions?, expiresAt?, metadata?}`: 201 with the token and its plain text, shown this once.
 *   `expiresAt` is an ISO 8601 day (UTC midnight) or instant with its offset ({@link parseIsoDate}), or epoch
 *   milliseconds; anything else is a 422.
 * - `PUT /:id {permissions?, name?}`: 200 with the token; a body without permissions leaves them as they were.
 * - `DELETE /:id`: 204.
 * - `POST /:id/rotate {grace?}`: 201 with the regenerated token and its plain text; the old secret works for
 *   `grace` minutes (default none). A token that keeps changing meanwhile is a 409, as is a `PUT` by a managing
 *   token on one.
 * - `GET /:id/events`: the token's latest audit events (with the service's `audit` sink), newest first. The trail
 *   outlives its tokens, so a revoked or regenerated token's id still finds its events; an id the user never had
 *   finds none (200, empty), and never another user's.
 *
 * First-party only unless `bearerAbility` is set; permissions filtered through the registry as Jetstream does;
 * otherwise another user's token, an unknown id, or an id not in canonical form is a 404; other methods a 405.
 *
 * @example
 * ```ts
 * const routes = new ApiTokenRoutes(tokens)
 * const answer = await routes.handle({ method: 'GET', path: '', header: (n) => headers[n], body: null, auth })
 * answer.status // 200
 * ```
 */
export class ApiTokenRoutes<U = RegisteredUser, P extends string = RegisteredPermission> {
  /** Where the routes live, without a trailing slash. */
  readonly prefix: string
  readonly #tokens: TokenService<P>
  readonly #owner: (user: U) => OwnerInput
  readonly #bearerAbility: P | undefined
  readonly #limit: number

  constructor(tokens: TokenService<P>, options: ApiTokenRoutesOptions<U, P> = {}) {
    if (typeof tokens?.create !== 'function') {
      throw new MisconfigurationError(
        'The token routes need the token service: apiTokenRoutes(createTokens({ … })).',
      )
    }
    const prefix = options.prefix ?? '/user/api-tokens'
    if (typeof prefix !== 'string' || !/^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+$/.test(prefix)) {
      throw new MisconfigurationError(
        '`prefix` is a path such as /user/api-tokens: it starts with "/", does not end with one, and needs no encoding.',
      )
    }
    const limit = options.bodyLimit ?? DEFAULT_LIMIT
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new MisconfigurationError('`bodyLimit` is a number of bytes, 1 or more (default 102400).')
    }
    const ability = options.bearerAbility
    if (ability !== undefined && (typeof ability !== 'string' || ability === '')) {
      throw new MisconfigurationError('`bearerAbility` names the ability a token needs to manage tokens.')
    }
    if (ability !== undefined && ability !== '*' && tokens.permissions && !tokens.permissions.has(ability)) {
      throw new MisconfigurationError(
        `\`bearerAbility\` ${JSON.stringify(ability)} is not one of the defined permissions.`,
      )
    }
    if (options.owner !== undefined && typeof options.owner !== 'function') {
      throw new MisconfigurationError('`owner` is a function: (user) => the owner of the user’s tokens.')
    }
    this.prefix = prefix
    this.#tokens = tokens
    this.#bearerAbility = ability
    this.#limit = limit
    this.#owner = options.owner ?? defaultOwner
  }

  /**
   * The answer to one request below the prefix. Resolves to an answer for anything the client sent; rejects only
   * for a wiring mistake (no `auth` middleware before the routes, a signed-in user without an `id` and no `owner`)
   * or an error of the app's own `owner`, which the framework's error handler then reports and answers 500.
   *
   * @example
   * ```ts
   * const answer = await routes.handle({ method: c.req.method, path, header, body, auth: c.var.auth })
   * return new Response(answer.body || null, { status: answer.status, headers: answer.headers })
   * ```
   */
  async handle(request: ApiTokenRequest<U, P>): Promise<HttpAnswer> {
    let answer: HttpAnswer
    try {
      answer = await this.#handle(request)
    } catch (error) {
      // A misconfiguration is the server's fault: answered here, it would be a 500 that nobody hears of.
      if (!isRefusal(error)) throw error
      answer = errorAnswer(error, { realm: request.auth && realmOf(request.auth) })
    }
    // One user's tokens, and once a plain text: no cache (a proxy's, the browser's history) may keep any of it
    // (RFC 6749 §5.1 asks the same of token answers).
    return new HttpAnswer(answer.status, { ...answer.headers, 'cache-control': 'no-store' }, answer.body)
  }

  async #handle(request: ApiTokenRequest<U, P>): Promise<HttpAnswer> {
    const route = routeOf(request.path)
    if (route === null) throw new NotFoundError()
    const method = request.method.toUpperCase()
    const allowed: readonly string[] =
      route.id === undefined
        ? COLLECTION
        : route.action === 'rotate'
          ? ACTION
          : route.action === 'events'
            ? READ
            : ITEM
    if (!allowed.includes(method)) throw new MethodNotAllowedError(allowed)
    const auth = this.#firstParty(request.auth)
    const owner = this.#owner(auth.user)
    const context = contextOf(auth, owner, request)
    if (route.id === undefined) {
      if (method !== 'POST') {
        const list = await this.#list(owner)
        return method === 'HEAD' ? new HttpAnswer(list.status, list.headers, '') : list
      }
      const fields = await this.#body(request)
      const { token, plainTextToken } = await this.#tokens.create(
        owner,
        fields.name as string,
        this.#permissions(fields.permissions),
        {
          expiresAt: expiry(fields.expiresAt),
          grantedBy: auth.token,
          context,
          ...(fields.metadata !== undefined && { metadata: fields.metadata as TokenMetadata }),
        },
      )
      return jsonAnswer(201, { token: this.#view(token), plainTextToken })
    }
    const id = route.id
    if (id === null) throw new NotFoundError('No such token.')
    if (route.action === 'events') {
      const events = await this.#tokens.recentEvents(owner, id, EVENTS_SHOWN)
      const answer = jsonAnswer(200, { events: events.map(eventView) })
      return method === 'HEAD' ? new HttpAnswer(answer.status, answer.headers, '') : answer
    }
    if (route.action === 'rotate') {
      const fields = await this.#body(request)
      const rotated = await this.#tokens.rotate(owner, id, {
        ...(fields.grace !== undefined && { grace: fields.grace as number }),
        grantedBy: auth.token,
        context,
      })
      if (!rotated) throw new NotFoundError('No such token.')
      return jsonAnswer(201, { token: this.#view(rotated.token), plainTextToken: rotated.plainTextToken })
    }
    if (method === 'DELETE') {
      if (!(await this.#tokens.revoke(owner, id, { context }))) throw new NotFoundError('No such token.')
      return noContent
    }
    const fields = await this.#body(request)
    const token = await this.#tokens.update(owner, id, {
      ...(fields.permissions !== undefined && { abilities: this.#permissions(fields.permissions) }),
      ...(fields.name !== undefined && { name: fields.name as string }),
      grantedBy: auth.token,
      context,
    })
    if (!token) throw new NotFoundError('No such token.')
    return jsonAnswer(200, { token: this.#view(token) })
  }

  async #list(owner: OwnerInput): Promise<HttpAnswer> {
    const tokens = await this.#tokens.list(owner)
    return jsonAnswer(200, {
      tokens: tokens.map((token) => this.#view(token)),
      availablePermissions: this.#tokens.permissions?.permissions ?? [],
      defaultPermissions: this.#tokens.permissions?.defaults ?? [],
    })
  }

  #view(token: PersonalAccessToken<P>): ApiTokenView {
    return {
      id: token.id,
      name: token.name,
      abilities: token.abilities,
      lastUsedAt: token.lastUsedAt,
      createdAt: token.createdAt,
      expiresAt: token.expiresAt,
      expired: this.#tokens.hasExpired(token),
      metadata: token.metadata,
    }
  }

  // Managing tokens is the user's own session's business; a bearer token only where the app opted in.
  #firstParty(given: Auth<U | null, P> | undefined): { readonly user: U; readonly token: AccessToken<P> } {
    const auth = requireAuth(given)
    if (!isSignedIn(auth)) throw guestRefusal(auth)
    if (isTransientToken(auth.token)) return auth
    const ability = this.#bearerAbility
    if (ability === undefined) throw new SessionRequiredError()
    if (auth.token.cant(ability)) throw new MissingAbilitiesError([ability], { realm: realmOf(auth) })
    return auth
  }

  #body(request: ApiTokenRequest<U, P>): Promise<Readonly<Record<string, unknown>>> {
    return readJsonObject(request.body, { header: (name) => request.header(name), limit: this.#limit })
  }

  // Jetstream's filter: undefined permissions are dropped, not refused. Without a registry, the list is checked
  // by the service instead.
  #permissions(input: unknown): Grant<P>[] {
    if (input === undefined) return []
    if (!Array.isArray(input))
      throw new InvalidInputError({ permissions: ['The permissions field must be a list.'] })
    const registry = this.#tokens.permissions
    return registry ? registry.validPermissions(input) : (input as Grant<P>[])
  }
}

function defaultOwner(user: unknown): OwnerInput {
  const id = userIdOf(user)
  if (id === null) {
    throw new MisconfigurationError(
      'The signed-in user has no `id`: pass `owner: (user) => …` to apiTokenRoutes.',
    )
  }
  return id
}

// '' or '/': the list; '/{id}': a token, whose id is null when it cannot be one (undecodable, not canonical);
// '/{id}/rotate' and '/{id}/events': its regeneration and its audit events; anything else: no route.
function routeOf(path: string): { id?: string | null; action?: 'rotate' | 'events' } | null {
  if (path === '' || path === '/') return {}
  if (path.charCodeAt(0) !== 47) return null
  const slash = path.indexOf('/', 1)
  const rest = slash === -1 ? '' : path.slice(slash)
  const action = rest === '/rotate' ? 'rotate' : rest === '/events' ? 'events' : undefined
  if (slash !== -1 && action === undefined) return null
  let id: string
  try {
    id = decodeURIComponent(path.slice(1, slash === -1 ? undefined : slash))
  } catch {
    return { id: null, ...(action && { action }) }
  }
  return { id: isTokenId(id) ? id : null, ...(action && { action }) }
}

// How many of a token's events the page is shown.
const EVENTS_SHOWN = 20

// Who asks, from where: the session's user (by the owner id the routes use) or the bearer token, from the address
// and client the guard read (its `clientAddress`), else the adapter's.
function contextOf(
  auth: { readonly user: unknown; readonly token: AccessToken },
  owner: OwnerInput,
  request: { header(name: string): string | undefined; readonly address?: string },
): AuditContext {
  // The signed-in user by their own id, read as the default owner reads it; else by the owner's id where that is
  // the user's (a bare id: the user owns their tokens). A team's id is no user's: then no actor, rather than
  // whichever user has that id.
  const given = typeof owner === 'object' && owner !== null ? owner : { id: owner }
  const userId = userIdOf(auth.user) ?? (given.type === undefined ? given.id : null)
  const client = clientOf(auth)
  return {
    actor: isTransientToken(auth.token)
      ? userId === null
        ? null
        : { type: 'user', id: String(userId) }
      : { type: 'token', id: auth.token.id },
    ip: client ? (client.ip ?? null) : (request.address ?? null),
    userAgent: client ? (client.userAgent ?? null) : (request.header('user-agent') ?? null),
  }
}

// An event as the page shows it: the token's own history, so no owner.
function eventView(event: AuditEvent): Omit<AuditEvent, 'owner'> {
  const { owner: _owner, ...view } = event
  return view
}

// An ISO 8601 day or instant with its offset (never read in the server's own zone), or epoch milliseconds.
function expiry(input: unknown): Date | null {
  if (input === undefined || input === null || input === '') return null
  const date =
    typeof input === 'string' ? parseIsoDate(input) : typeof input === 'number' ? new Date(input) : null
  if (!date || Number.isNaN(date.getTime())) {
    throw new InvalidInputError({
      expiresAt: [
        'The expires at field must be a date such as 2030-01-31 or 2030-01-31T12:00:00Z, with its offset.',
      ],
    })
  }
  return date
}
