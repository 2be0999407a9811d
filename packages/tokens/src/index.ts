export { assertAbilities, assertAnyAbility } from './ability-checks.js'
export type {
  ApiTokenManagerOptions,
  ApiTokenResult,
  ApiTokenRoutesOptions,
  ApiTokenView,
} from './api-token-manager.js'
export { ApiTokenManager } from './api-token-manager.js'
export type { AccessToken, Auth, SignedIn } from './auth.js'
export { createAuth, isSignedIn } from './auth.js'
export type { ErrorResponse } from './error-response.js'
export { errorResponse } from './error-response.js'
export type { FieldErrors, TokenErrorCode } from './errors.js'
export {
  BadRequestError,
  ForbiddenError,
  InvalidInputError,
  isTokenError,
  MisconfigurationError,
  MissingAbilitiesError,
  NotFoundError,
  StorageUnavailableError,
  TokenError,
  UnauthenticatedError,
} from './errors.js'
export type { LastUsedOptions } from './last-used-tracker.js'
export type { MaybePromise } from './maybe-promise.js'
export { isPromiseLike } from './maybe-promise.js'
export { MemoryTokenStore } from './memory-token-store.js'
export type { PermissionRegistryOptions } from './permission-registry.js'
export { PermissionRegistry } from './permission-registry.js'
export type { PersonalAccessTokenData } from './personal-access-token.js'
export { PersonalAccessToken } from './personal-access-token.js'
export { isTokenId } from './plain-text-token.js'
export type { Policy } from './policies.js'
export { allows, authorize, definePolicies } from './policies.js'
export type {
  AuthMiddlewareOptions,
  GuardAdapter,
  RequestAuth,
  RequestGuardOptions,
} from './request-guard.js'
export { createRequestAuth, RequestGuard } from './request-guard.js'
export { statefulDomains } from './stateful-domains.js'
export type { OwnerInput, TokenOwner } from './token-owner.js'
export type {
  AuthenticationFailure,
  CreateTokenOptions,
  NewAccessToken,
  TokenServiceHooks,
  TokenServiceOptions,
  TokenUpdate,
} from './token-service.js'
export { createTokens, TokenService } from './token-service.js'
export type {
  ExpiredTokenCriteria,
  NewTokenRecord,
  TokenChangeListener,
  TokenChanges,
  TokenRecord,
  TokenStore,
} from './token-store.js'
export { TransientToken } from './transient-token.js'
export type { VerificationCacheOptions } from './verification-cache.js'
