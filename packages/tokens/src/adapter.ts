/**
 * The surface for adapter authors: what Hono, Koa and Express adapters are built from. An adapter reads the
 * request in its framework's idiom, hands it to these, and writes back the {@link HttpAnswer} it gets; it decides
 * nothing itself. Apps import from `@jetstream/tokens`.
 *
 * @example
 * ```ts
 * import { ApiTokenRoutes, HttpAnswer, RequestGuard, abilityCheck, errorAnswer } from '@jetstream/tokens/adapter'
 * ```
 */

export type { AbilityMode } from './ability-checks.js'
export { abilityCheck } from './ability-checks.js'
export type { ApiTokenRequest } from './api-token-routes.js'
export { ApiTokenRoutes } from './api-token-routes.js'
export type { AuthContext } from './auth.js'
export { createAuth, requireAuth, signedInAuth } from './auth.js'
export type { ErrorBody } from './http-answer.js'
export { answerError, errorAnswer, HttpAnswer, isRefusal, jsonAnswer } from './http-answer.js'
export { nodeHeader } from './node-header.js'
export type { BodyOptions, RequestBody } from './request-body.js'
export { readJsonObject } from './request-body.js'
export type { GuardAdapter } from './request-guard.js'
export { RequestGuard } from './request-guard.js'
export { targetPath } from './target-path.js'
