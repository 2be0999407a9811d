import { type Auth, definePolicies } from '@jetstream/tokens'
import type { Permission, Post, User } from './fixture.js'

/** The app's auth as every policy sees it, in any framework. */
export type AppAuth = Auth<User, Permission>

/** Written once against the core; imported unchanged by the Hono, Koa and Express tests. */
export const posts = definePolicies({
  view: (auth: AppAuth, _post: Post) => auth.tokenCan('read'),
  update: (auth: AppAuth, post: Post) => auth.tokenCan('update') && post.authorId === auth.user.id,
  delete: (auth: AppAuth, post: Post) => auth.tokenCan('delete') && post.authorId === auth.user.id,
})
