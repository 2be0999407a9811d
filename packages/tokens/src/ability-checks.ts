import { type Auth, isSignedIn } from './auth.js'
import { MissingAbilitiesError, UnauthenticatedError } from './errors.js'

/**
 * Sanctum's `abilities` middleware: the request's token must hold every one of `abilities`. A session request's
 * `TransientToken` holds them all.
 *
 * @throws UnauthenticatedError (401) without a signed-in user and token.
 * @throws MissingAbilitiesError (403) naming the abilities the token lacks.
 * @example
 * ```ts
 * assertAbilities(auth, ['read', 'update'])
 * ```
 */
export function assertAbilities<P extends string>(
  auth: Auth<unknown, P> & { tokenRejected?: boolean },
  abilities: readonly P[],
): void {
  if (!isSignedIn(auth)) throw new UnauthenticatedError({ tokenRejected: auth.tokenRejected === true })
  const missing = abilities.filter((ability) => auth.tokenCant(ability))
  if (missing.length > 0) throw new MissingAbilitiesError(missing)
}

/**
 * Sanctum's `ability` middleware: the request's token must hold at least one of `abilities`.
 *
 * @throws UnauthenticatedError (401) without a signed-in user and token.
 * @throws MissingAbilitiesError (403) naming all of `abilities` when it holds none.
 * @example
 * ```ts
 * assertAnyAbility(auth, ['read', 'admin'])
 * ```
 */
export function assertAnyAbility<P extends string>(
  auth: Auth<unknown, P> & { tokenRejected?: boolean },
  abilities: readonly P[],
): void {
  if (!isSignedIn(auth)) throw new UnauthenticatedError({ tokenRejected: auth.tokenRejected === true })
  if (!abilities.some((ability) => auth.tokenCan(ability))) throw new MissingAbilitiesError(abilities)
}
