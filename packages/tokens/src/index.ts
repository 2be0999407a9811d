export type { ApiTokenRoutesOptions, ApiTokenView } from './api-token-routes.js'
export type { AuditAction, AuditActor, AuditContext, AuditEvent, AuditSink } from './audit-log.js'
export { MemoryAuditLog } from './audit-log.js'
export type { AccessToken, Auth } from './auth.js'
export { isSignedIn } from './auth.js'
export type { FieldErrors, TokenErrorCode } from './errors.js'
export {
  BadRequestError,
  ConflictError,
  DriverError,
  ForbiddenError,
  InvalidInputError,
  isTokenError,
  MethodNotAllowedError,
  MisconfigurationError,
  MissingAbilitiesError,
  NotFoundError,
  PayloadTooLargeError,
  SessionRequiredError,
  StorageUnavailableError,
  TokenError,
  TooManyRequestsError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
} from './errors.js'
export type { ErrorHandlerOptions } from './http-answer.js'
export { parseIsoDate } from './iso-date.js'
export type { LastUsedOptions } from './last-used-tracker.js'
export type { MaybePromise } from './maybe-promise.js'
export { isPromiseLike } from './maybe-promise.js'
export { MemoryTokenStore } from './memory-token-store.js'
export type { Grant, PermissionRegistryOptions, ScopeOf } from './permission-registry.js'
export { PermissionRegistry } from './permission-registry.js'
export type { AbilityOptions, PersonalAccessTokenData } from './personal-access-token.js'
export { PersonalAccessToken } from './personal-access-token.js'
export { isTokenId } from './plain-text-token.js'
export type { Policy } from './policies.js'
export { allows, definePolicies } from './policies.js'
export type {
  Limiter,
  LimiterFactory,
  LimiterState,
  RateLimitOptions,
  RateLimitPolicy,
} from './rate-limits.js'
export type { Register, RegisteredPermission, RegisteredUser } from './register.js'
export type { AuthOptions } from './request-guard.js'
export type { HashKeyOptions } from './secret-hasher.js'
export { statefulDomains } from './stateful-domains.js'
export type { OwnerInput, TokenOwner } from './token-owner.js'
export type {
  AuthenticationFailure,
  CreateTokenOptions,
  NewAccessToken,
  RotateTokenOptions,
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
  TokenMetadata,
  TokenRecord,
  TokenStore,
} from './token-store.js'
export { hasAbilities, mayRotate } from './token-store.js'
export type {
  ActionEvent,
  ActionOutcome,
  AuthenticationEvent,
  AuthenticationOutcome,
  FlushEvent,
  RateLimitEvent,
  TokenAction,
  TokenTelemetry,
} from './token-telemetry.js'
export { isTransientToken, TransientToken } from './transient-token.js'
export type { VerificationCacheOptions } from './verification-cache.js'
