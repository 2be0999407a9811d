/**
 * Where an app tells the type system, once, who its users are and which permissions its tokens carry. Every
 * adapter's types default to what is registered here, so `abilities('raed')` does not compile and a handler's
 * `auth.user` is the app's user without a cast:
 *
 * @example
 * ```ts
 * declare module '@jetstream/tokens' {
 *   interface Register {
 *     user: User
 *     permission: 'create' | 'read' | 'update' | 'delete' // or (typeof permissions.permissions)[number]
 *   }
 * }
 * ```
 */
// biome-ignore lint/suspicious/noEmptyInterface: apps fill it in by declaration merging.
export interface Register {}

/**
 * The app's user type from {@link Register}; `unknown` when none is registered.
 *
 * @example
 * ```ts
 * const me: RegisteredUser = c.var.auth.user
 * ```
 */
export type RegisteredUser = Register extends { user: infer U } ? U : unknown

/**
 * The app's permission names from {@link Register}; `string` when none are registered.
 *
 * @example
 * ```ts
 * const needed: RegisteredPermission[] = ['read']
 * ```
 */
export type RegisteredPermission = Register extends { permission: infer P extends string } ? P : string
