import { PermissionRegistry } from '@jetstream/tokens'

/** The one permission list of every example app (Jetstream's `Jetstream::permissions`), `read` ticked by default. */
export const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})

export type Permission = (typeof permissions.permissions)[number]
