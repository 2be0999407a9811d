export { apiTokenPage } from './page.js'
export { type Permission, permissions } from './permissions.js'
export { type AppAuth, posts } from './policies.js'
export { type Post, PostRepository, postTitle, titleRequired } from './posts.js'
export {
  MemorySessionStore,
  notFound,
  SESSION_LIFETIME,
  type SignInRequest,
  signInRefusal,
} from './sessions.js'
export { SignInThrottle } from './sign-in-throttle.js'
export { createTokenService, userForToken } from './tokens.js'
export { demoCredentials, findUser, type User } from './users.js'
