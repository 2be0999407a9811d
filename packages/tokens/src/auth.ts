import type { AuditContext } from './audit-log.js'
import { ForbiddenError, MisconfigurationError, type TokenError, UnauthenticatedError } from './errors.js'
import type { MaybePromise } from './maybe-promise.js'
import type { PersonalAccessToken } from './personal-access-token.js'
import type { Policy } from './policies.js'
import type { RegisteredPermission, RegisteredUser } from './register.js'
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
 * The auth of one request, the same object in every framework (`c.var.auth`, `ctx.state.auth`, `req.auth`) and
 * what policies receive: who is signed in, with which token, `tokenCan` / `tokenCant` (Sanctum's
 * `$user->tokenCan()`), and `authorize`.
 *
 * `Auth<User>` is a signed-in request (what a route behind `auth(…)` gets); `Auth<User | null>` may be a guest
 * (a route behind `auth(…, { required: false })`). The types default to the app's {@link Register}.
 *
 * @example
 * ```ts
 * if (auth.tokenCan('update')) await save(post)
 * await auth.authorize(posts.update, post) // 403 when the policy says no
 * ```
 */
export interface Auth<out U = RegisteredUser, P extends string = RegisteredPermission> {
  /** The signed-in user; null only for a guest, where `U` allows it. */
  readonly user: U
  /** A {@link PersonalAccessToken} for bearer requests, a {@link TransientToken} for session requests. */
  readonly token: AccessToken<P> | (U & null)
  /** True when the request presented a token that was refused (for `WWW-Authenticate: … error="invalid_token"`). */
  readonly tokenRejected: boolean
  /** True when the request's token holds the ability; false without a token. */
  tokenCan(ability: P): boolean
  /** The negation of `tokenCan` (so true without a token), as in Sanctum. */
  tokenCant(ability: P): boolean
  /**
   * Asks a policy: resolves when it allows, rejects with `UnauthenticatedError` (401) for a guest and
   * `ForbiddenError` (403) when it says no. Every adapter answers those rejections the same way.
   */
  authorize<R>(policy: Policy<NonNullable<U>, P, R>, resource: R): Promise<void>
}

/**
 * How {@link createAuth} builds an {@link Auth}: what adapters and test helpers know beyond the user and token.
 *
 * @example
 * ```ts
 * createAuth(null, null, { tokenRejected: true, realm: 'acme' })
 * ```
 */
export interface AuthContext {
  /** A token was presented and refused. Default false. */
  readonly tokenRejected?: boolean
  /** The realm of the challenges this request's refusals carry. Default: the answer's (`api`). */
  readonly realm?: string
  /** What `authorize` rejects with in place of the core's error (Hono wants its `HTTPException`). */
  readonly refusal?: (error: UnauthenticatedError | ForbiddenError) => unknown
  /**
   * Spends a token's allowance of abilities that have rate limits of their own (the guard's `rateLimit.abilities`);
   * ability checks call it once the token has passed. The refusal, or null.
   */
  readonly spendAbilities?: (abilities: readonly string[], tokenId: string) => MaybePromise<TokenError | null>
  /**
   * Where the request came from (the guard's `clientAddress`, the user agent), as the guard read it for the audit
   * trail, so the token routes record the same address; absent when the service keeps no trail.
   */
  readonly client?: AuditContext
  /** What built the auth (its request guard), so that guard, mounted again on the same request, knows its own. */
  readonly guard?: object
}

// Where an Auth keeps the realm of its refusals, its guard's ability limits and the request's client, out of sight
// of apps (ability checks and the token routes read them).
const REALM: unique symbol = Symbol('realm')
const SPEND_ABILITIES: unique symbol = Symbol('spendAbilities')
const CLIENT: unique symbol = Symbol('client')
const GUARD: unique symbol = Symbol('guard')

/**
 * Builds the auth of a request. The request guard calls it; so do `actingAs` and tests.
 *
 * @example
 * ```ts
 * const auth = createAuth(user, new TransientToken())
 * auth.tokenCan('delete') // true
 * createAuth(null, null).tokenCan('read') // false
 * ```
 */
export function createAuth<U, P extends string = RegisteredPermission>(
  user: U,
  token: AccessToken<P> | null,
  context: AuthContext = {},
): Auth<U, P> {
  const tokenRejected = context.tokenRejected === true
  const realm = context.realm
  const refusal = context.refusal
  const refuse = (error: UnauthenticatedError | ForbiddenError) =>
    Promise.reject(refusal ? refusal(error) : error)
  // One object literal, no spread: this runs on every request, and spreading an object of closures showed up at
  // 5 % of a Koa server's busy time.
  const auth = {
    user,
    token,
    tokenRejected,
    [REALM]: realm,
    [SPEND_ABILITIES]: context.spendAbilities,
    [CLIENT]: context.client,
    [GUARD]: context.guard,
    tokenCan: (ability: P) => token?.can(ability) === true,
    tokenCant: (ability: P) => token === null || token.cant(ability),
    authorize: async <R>(policy: Policy<NonNullable<U>, P, R>, resource: R): Promise<void> => {
      if (!isSignedIn(auth as Auth<U | null, P>)) {
        return refuse(guestRefusal(auth))
      }
      if ((await policy(auth as unknown as Auth<NonNullable<U>, P>, resource)) !== true) {
        return refuse(new ForbiddenError())
      }
    },
  }
  return auth as unknown as Auth<U, P>
}

/**
 * The realm an {@link Auth}'s refusals carry: its guard's (`api` unless told otherwise); undefined for an auth no
 * guard built (`actingAs`'s), whose refusals take the answer's.
 *
 * @example
 * ```ts
 * new MissingAbilitiesError(['read'], { realm: realmOf(auth) })
 * ```
 */
export function realmOf(auth: object): string | undefined {
  return (auth as { [REALM]?: string })[REALM]
}

/**
 * How an {@link Auth} spends its token's ability limits, as its guard was told; undefined when no ability has one.
 *
 * @example
 * ```ts
 * const refusal = await abilitySpenderOf(auth)?.(['create'], token.id)
 * ```
 */
export function abilitySpenderOf(auth: object): AuthContext['spendAbilities'] {
  return (auth as { [SPEND_ABILITIES]?: AuthContext['spendAbilities'] })[SPEND_ABILITIES]
}

/**
 * What built an {@link Auth} (`AuthContext.guard`): its request guard; undefined for an auth no guard built.
 *
 * @example
 * ```ts
 * if (guardOf(current) === this) return current // mounted twice: the request is resolved already
 * ```
 */
export function guardOf(auth: object): object | undefined {
  return (auth as { [GUARD]?: object })[GUARD]
}

/**
 * What {@link isSignedIn} learns of an {@link Auth}: a user and a token.
 *
 * @example
 * ```ts
 * const known: SignedIn<User, 'read'> = { user, token }
 * ```
 */
interface SignedIn<U, P extends string> {
  readonly user: U
  readonly token: AccessToken<P>
}

/**
 * True when the request has a user and a token: narrows `Auth<User | null>` to `Auth<User>`.
 *
 * @example
 * ```ts
 * if (!isSignedIn(auth)) throw new UnauthenticatedError()
 * auth.user // typed as User, not User | null
 * ```
 */
export function isSignedIn<U, P extends string>(
  auth: Auth<U | null, P>,
): auth is Auth<U | null, P> & SignedIn<U, P> {
  return Boolean(auth.user) && auth.token !== null
}

/**
 * Where an {@link Auth}'s request came from, as its guard read it for the audit trail; undefined when the guard
 * keeps no trail, or for an auth no guard built.
 *
 * @example
 * ```ts
 * const ip = clientOf(auth)?.ip ?? null
 * ```
 */
export function clientOf(auth: object): AuditContext | undefined {
  return (auth as { [CLIENT]?: AuditContext })[CLIENT]
}

/**
 * The auth of a signed-in request, or the 401 that refuses a guest, in the realm its guard was given: for an
 * adapter's accessor that promises a user (Express's `authOf(req)`) on a route whose `auth` lets guests through.
 *
 * @example
 * ```ts
 * const auth = signedInAuth(req.auth) // throws UnauthenticatedError for a guest
 * auth.user // the app's User
 * ```
 */
export function signedInAuth<U, P extends string>(auth: Auth<U | null, P>): Auth<U, P> {
  if (isSignedIn(auth)) return auth as unknown as Auth<U, P>
  throw guestRefusal(auth)
}

/**
 * The 401 that refuses a guest: a challenge in the realm the request's guard was given, saying whether a token was
 * presented and refused. Every refusal of a guest is this one, so the ability checks, `authorize`, the token
 * routes and `authOf` answer alike.
 *
 * @example
 * ```ts
 * if (!isSignedIn(auth)) throw guestRefusal(auth)
 * ```
 */
export function guestRefusal(auth: { readonly tokenRejected: boolean }): UnauthenticatedError {
  return new UnauthenticatedError({ tokenRejected: auth.tokenRejected, realm: realmOf(auth) })
}

/**
 * The auth that the adapter's `auth(...)` middleware set on this request; a {@link MisconfigurationError} (500,
 * reported) when it did not run first, which is a wiring mistake, the same in every adapter.
 *
 * @example
 * ```ts
 * const auth = requireAuth(c.get('auth')) // Hono; `ctx.state.auth` in Koa, `req.auth` in Express
 * ```
 */
export function requireAuth<A>(auth: A | undefined): A {
  if (auth === undefined || auth === null) {
    throw new MisconfigurationError(
      'No auth on this request: use auth(tokens, options) before abilities, ability and apiTokenRoutes, on the same paths.',
    )
  }
  return auth
}

/**
 * A signed-in user's `id`, as the token routes (their default owner) and the session rate limit read it: a string,
 * a number, a bigint, or an object that writes itself as text (a MongoDB `ObjectId`); null for a user without one.
 *
 * @example
 * ```ts
 * userIdOf({ id: 42 })          // 42
 * userIdOf({ id: new ObjectId('65a1…') }) // '65a1…'
 * userIdOf({ name: 'Ada' })     // null
 * ```
 */
export function userIdOf(user: unknown): string | number | bigint | null {
  const id = (user as { id?: unknown } | null)?.id
  if (typeof id === 'string' || typeof id === 'number' || typeof id === 'bigint') return id
  if (typeof id !== 'object' || id === null) return null
  let text: string
  try {
    text = String(id)
  } catch {
    // No prototype, or a `toString` that throws: no id, rather than the request failing.
    return null
  }
  return text === '[object Object]' ? null : text
}
