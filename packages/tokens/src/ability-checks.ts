import { type Auth, isSignedIn, realmOf } from './auth.js'
import { MisconfigurationError, MissingAbilitiesError, UnauthenticatedError } from './errors.js'
import { errorAnswer, type HttpAnswer } from './http-answer.js'

/**
 * Sanctum's two ability middlewares: `'all'` (`abilities`: the token must hold every one) and `'any'` (`ability`:
 * at least one).
 *
 * @example
 * ```ts
 * const mode: AbilityMode = 'all'
 * ```
 */
export type AbilityMode = 'all' | 'any'

/**
 * Builds the check behind an adapter's `abilities(...)` (`'all'`) or `ability(...)` (`'any'`): given the request's
 * auth, null to go on, or the answer that refuses it, 401 without a signed-in user and 403 `insufficient_scope`
 * naming the missing abilities, in the realm the request's guard was given. The list is checked once, here.
 *
 * @throws MisconfigurationError when no ability is named or one is not a non-empty string.
 * @example
 * ```ts
 * const check = abilityCheck('all', ['read', 'update'])
 * const refusal = check(auth)
 * if (refusal) return send(refusal)
 * ```
 */
export function abilityCheck<P extends string>(
  mode: AbilityMode,
  abilities: readonly P[],
): (auth: Auth<unknown, P>) => HttpAnswer | null {
  const name = mode === 'all' ? 'abilities' : 'ability'
  if (abilities.length === 0 || abilities.some((ability) => typeof ability !== 'string' || ability === '')) {
    throw new MisconfigurationError(`\`${name}(...)\` takes one or more ability names.`)
  }
  const listed = Object.freeze([...abilities])
  return (auth) => {
    if (!isSignedIn(auth)) {
      const realm = realmOf(auth)
      return errorAnswer(
        new UnauthenticatedError({
          tokenRejected: auth.tokenRejected,
          ...(realm !== undefined && { realm }),
        }),
      )
    }
    const missing =
      mode === 'all'
        ? listed.filter((ability) => auth.tokenCant(ability))
        : listed.some((ability) => auth.tokenCan(ability))
          ? []
          : listed
    if (missing.length === 0) return null
    const realm = realmOf(auth)
    return errorAnswer(new MissingAbilitiesError(missing, realm === undefined ? {} : { realm }))
  }
}
