import { PermissionRegistry } from '@jetstream/tokens'

/** The one permission list of every example app (Jetstream's `Jetstream::permissions`), `read` ticked by default. */
export const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})

export type Permission = (typeof permissions.permissions)[number]

// Registered once for the whole app: every adapter's `abilities('…')`, `auth.tokenCan('…')` and `auth.user` are
// typed from here, in Hono, Koa and Express alike.
declare module '@jetstream/tokens' {
  interface Register {
    user: import('./users.js').User
    permission: Permission
  }
}
