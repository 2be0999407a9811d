import { type Auth, abilitySpenderOf, guestRefusal, isSignedIn, realmOf } from './auth.js'
import { MisconfigurationError, MissingAbilitiesError } from './errors.js'
import { errorAnswer, type HttpAnswer } from './http-answer.js'
import { isPromiseLike } from './maybe-promise.js'
import { isTransientToken } from './transient-token.js'

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
 * naming the missing abilities, in the realm the request's guard was given. Where the guard has ability limits
 * (`rateLimit.abilities`), a token that passes spends from them, and may get their 429; the answer is then a
 * promise when the limits live outside this process. The list is checked once, here.
 *
 * @throws MisconfigurationError when no ability is named or one is not a non-empty string.
 * @example
 * ```ts
 * const check = abilityCheck('all', ['read', 'update'])
 * const refusal = await check(auth)
 * if (refusal) return send(refusal)
 * ```
 */
export function abilityCheck<P extends string>(
  mode: AbilityMode,
  abilities: readonly P[],
): (auth: Auth<unknown, P>) => HttpAnswer | null | Promise<HttpAnswer | null> {
  const name = mode === 'all' ? 'abilities' : 'ability'
  if (abilities.length === 0 || abilities.some((ability) => typeof ability !== 'string' || ability === '')) {
    throw new MisconfigurationError(`\`${name}(...)\` takes one or more ability names.`)
  }
  const listed = Object.freeze([...abilities])
  return (auth) => {
    if (!isSignedIn(auth)) return errorAnswer(guestRefusal(auth))
    const missing =
      mode === 'all'
        ? listed.filter((ability) => auth.tokenCant(ability))
        : listed.some((ability) => auth.tokenCan(ability))
          ? []
          : listed
    if (missing.length > 0) return errorAnswer(new MissingAbilitiesError(missing, { realm: realmOf(auth) }))
    // Abilities with rate limits of their own: the token spends from those it passed with.
    const spend = abilitySpenderOf(auth)
    if (spend === undefined || isTransientToken(auth.token)) return null
    const spent = spend(
      mode === 'all' ? listed : listed.filter((ability) => auth.tokenCan(ability)),
      auth.token.id,
    )
    const answer = (refusal: Error | null) => (refusal === null ? null : errorAnswer(refusal))
    return isPromiseLike(spent) ? Promise.resolve(spent).then(answer) : answer(spent)
  }
}
