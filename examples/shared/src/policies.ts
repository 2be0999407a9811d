import { type Auth, definePolicies } from '@jetstream/tokens'
import type { Permission } from './permissions.js'
import type { Post } from './posts.js'
import type { User } from './users.js'

/** The auth every policy sees, whichever framework serves the request. */
export type AppAuth = Auth<User, Permission>

/**
 * The posts policy, written once against the core and imported unchanged by the Hono, Koa and Express apps. A
 * session request's TransientToken can do everything, so for the app's own pages only ownership decides.
 */
export const posts = definePolicies({
  view: (auth: AppAuth, _post: Post) => auth.tokenCan('read'),
  update: (auth: AppAuth, post: Post) => auth.tokenCan('update') && post.authorId === auth.user.id,
  delete: (auth: AppAuth, post: Post) => auth.tokenCan('delete') && post.authorId === auth.user.id,
})
