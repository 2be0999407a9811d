import {
  createTokens,
  MemoryAuditLog,
  MemoryTokenStore,
  PermissionRegistry,
  type RateLimitOptions,
  StorageUnavailableError,
  type TokenService,
  type TokenStore,
  UnauthenticatedError,
} from '@jetstream/tokens'
import { RateLimiterMemory } from 'rate-limiter-flexible'

export const permissions = new PermissionRegistry({
  permissions: ['create', 'read', 'update', 'delete'],
  defaults: ['read'],
})
export type Permission = (typeof permissions.permissions)[number]

export interface User {
  readonly id: string
  readonly name: string
}

// The scenario apps are written as an app would be: with its user and permissions registered once.
declare module '@jetstream/tokens' {
  interface Register {
    user: User
    permission: Permission
  }
}

export interface Post {
  readonly id: string
  readonly authorId: string
  readonly title: string
}

/** A store that can be taken down, to see 503s: the memory store, with an outage switch. */
export class SwitchableStore extends MemoryTokenStore {
  down = false
  constructor() {
    super()
    for (const method of [
      'insert',
      'findById',
      'findByHash',
      'listByOwner',
      'update',
      'rotate',
      'delete',
      'deleteByOwner',
      'touch',
      'deleteExpired',
    ] as const) {
      const original = this[method].bind(this) as (...args: unknown[]) => Promise<unknown>
      ;(this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        this.down
          ? Promise.reject(new StorageUnavailableError('The test database is down.'))
          : original(...args)
    }
  }
}

/**
 * Everything an adapter's scenario app is built from. Each adapter's test turns it into a real server with these
 * routes (the same in every framework):
 * - `GET /me`: auth required → `{ user, via: 'session' | 'token', can: { create, read, update, delete } }`
 * - `GET /maybe`: auth optional → `{ user }` (null for a guest)
 * - `GET /maybe/authorize`: auth optional, then `auth.authorize(posts.view, post 10)` → `{ ok: true }`
 * - `GET /maybe/thrown/:kind`: auth optional, then throws {@link thrownError}
 * - `GET /posts/:id`: abilities('read') → the post, or 404
 * - `POST /posts`: abilities('create', 'read') → 201 `{ created: true }`
 * - `PUT /posts/:id`: abilities('update'), then `auth.authorize(posts.update, post)` → `{ updated: true }`
 * - `DELETE /posts/:id`: ability('delete', 'update') → 204
 * - `GET /custom/me`: auth required, token read from the `x-api-token` header → `{ user }`
 * - `POST /session/ping`: auth required → `{ ok: true }` (a state-changing request, for the origin rule)
 * - `GET /acme/me`: auth required in realm `acme`, then abilities('delete') → `{ ok: true }`
 * - `GET /limited/me`: auth required, with the route group's own {@link limitedRoute} rate limits → `{ user }`
 * - `POST /limited/posts`: the same limits (a guard of its own), then abilities('create') → 201 `{ created: true }`
 * - `GET /thrown/:kind`: no auth; throws {@link thrownError}, for the framework's `errorHandler({ realm: 'app' })`
 *   to answer
 * - `GET /failing`: auth required, then the app fails (`thrownError('bug')`)
 * - `GET /misused`: abilities('read') with no `auth` before it, the app's mistake
 * - `GET /limited/twice`: the same limits, the same `auth` mounted twice on the route → `{ user }`
 * - `GET /shared/me`, `POST /shared/posts`, `GET /shared/twice`: the same three with {@link sharedLimitedRoute},
 *   limits that answer through a promise
 * - the token-management routes at `/user/api-tokens` (session only, the default), and again at
 *   `/bearer/api-tokens` with `bearerAbility: 'create'` (bearer management opted in)
 * Sessions: the `session` cookie holds a user id (`sessionUser`); tokens belong to users by id (`userForToken`).
 */
/**
 * The rate limits of `/limited/*`: two requests a minute per token or session user, one a minute per token that
 * passes an ability check for `create`, three refused tokens a minute per client address.
 */
export const limitedRoute: RateLimitOptions<Permission> = {
  limit: 2,
  window: 60,
  abilities: { create: { limit: 1, window: 60 } },
  failures: { limit: 3, window: 60 },
}

/**
 * The same limits as {@link limitedRoute}, counted by a limiter the service awaits, as one on Redis or PostgreSQL
 * is: rate-limiter-flexible's own `RateLimiterMemory`. Each adapter then takes its path for limits that answer
 * through a promise.
 */
export const sharedLimitedRoute: RateLimitOptions<Permission> = {
  ...limitedRoute,
  name: 'limited-route',
  backend: (options) => new RateLimiterMemory(options),
}

export interface ScenarioSetup {
  readonly tokens: TokenService<Permission>
  /** The outage switch, when the setup runs on the default {@link SwitchableStore}. */
  readonly outage: SwitchableStore | null
  readonly clock: { now: number }
  readonly users: ReadonlyMap<string, User>
  readonly posts: ReadonlyMap<string, Post>
  /** The app's own failures each errorHandler reported, in order. */
  readonly reported: unknown[]
  sessionUser(cookieHeader: string | undefined): User | null
  userForToken(ownerId: string): User | null
}

/**
 * What `GET /thrown/:kind` throws, outside any `auth`: `library`, an error of this library; `client`, a 404 marked
 * `expose` as `http-errors` (Express's `createError`, Koa's `ctx.throw`) makes it; `busy`, such a 429 with its own
 * `Retry-After`; `bug`, the app's own failure.
 */
export function thrownError(kind: string): Error {
  if (kind === 'library') return new UnauthenticatedError()
  if (kind === 'client') return Object.assign(new Error('No post 7 here.'), { status: 404, expose: true })
  if (kind === 'busy') {
    const headers = { 'Retry-After': '30' }
    return Object.assign(new Error('Try later.'), { status: 429, expose: true, headers })
  }
  return new TypeError('The app failed.')
}

export function createSetup(
  store: TokenStore = new SwitchableStore(),
  options: { cache?: boolean } = {},
): ScenarioSetup {
  // Created at the test clock's "now", so expiry scenarios can move the clock.
  const clock = { now: Date.parse('2026-06-01T12:00:00Z') }
  const users = new Map<string, User>([
    ['1', { id: '1', name: 'Ada' }],
    ['2', { id: '2', name: 'Grace' }],
  ])
  const posts = new Map<string, Post>([
    ['10', { id: '10', authorId: '1', title: "Ada's post" }],
    ['20', { id: '20', authorId: '2', title: "Grace's post" }],
  ])
  return {
    tokens: createTokens({
      store,
      permissions,
      now: () => new Date(clock.now),
      lastUsed: { flushDelay: 10 },
      cache: options.cache ?? false,
      audit: new MemoryAuditLog(),
    }),
    outage: store instanceof SwitchableStore ? store : null,
    clock,
    users,
    posts,
    sessionUser: (cookieHeader) => {
      const id = /(?:^|;\s*)session=([^;]+)/.exec(cookieHeader ?? '')?.[1]
      return (id && users.get(id)) || null
    },
    reported: [],
    userForToken: (ownerId) => users.get(ownerId) ?? null,
  }
}
