import {
  type Auth,
  allows,
  definePolicies,
  ForbiddenError,
  MisconfigurationError,
  PermissionRegistry,
} from '@jetstream/tokens'
import { describe, expect, it } from 'vitest'
import { actingAs } from './acting-as.js'

interface User {
  id: number
}
const posts = definePolicies({
  update: (auth: Auth<User, 'read' | 'update'>, post: { authorId: number }) =>
    auth.tokenCan('update') && post.authorId === auth.user.id,
})

describe('actingAs', () => {
  it('gives a token with exactly the abilities asked for', async () => {
    const auth = actingAs<User, 'read' | 'update'>({ id: 42 }, ['read'])
    expect(auth.user).toEqual({ id: 42 })
    expect(auth.tokenCan('read')).toBe(true)
    expect(auth.tokenCan('update')).toBe(false)
    expect(await allows(auth, posts.update, { authorId: 42 })).toBe(false)
    expect(auth.token && 'owner' in auth.token ? auth.token.owner : null).toEqual({ type: 'user', id: '42' })
  })

  it('authorizes as a handler’s auth does', async () => {
    const auth = actingAs<User, 'read' | 'update'>({ id: 42 }, ['update'])
    await expect(auth.authorize(posts.update, { authorId: 42 })).resolves.toBeUndefined()
    await expect(auth.authorize(posts.update, { authorId: 7 })).rejects.toBeInstanceOf(ForbiddenError)
    expect(auth.tokenRejected).toBe(false)
  })

  it('gives no abilities by default, as Sanctum does', () => {
    expect(actingAs({ id: 1 }).tokenCan('read')).toBe(false)
  })

  it('can act as a session request', async () => {
    const auth = actingAs<User, 'read' | 'update'>({ id: 42 }, 'session')
    expect(auth.tokenCan('update')).toBe(true)
    expect(await allows(auth, posts.update, { authorId: 42 })).toBe(true)
    expect(await allows(auth, posts.update, { authorId: 7 })).toBe(false)
  })

  it('takes an explicit owner', () => {
    const auth = actingAs({ id: 1 }, ['*'], { owner: { type: 'team', id: '9' } })
    expect(auth.token && 'owner' in auth.token ? auth.token.owner : null).toEqual({ type: 'team', id: '9' })
  })

  it('reads scopes when asked, and carries metadata', () => {
    type Post = 'posts:read' | 'posts:update'
    const scoped = actingAs<{ id: number }, Post>({ id: 1 }, ['posts:*'], {
      scopes: true,
      metadata: { team: 'ops' },
    })
    expect(scoped.tokenCan('posts:read')).toBe(true)
    expect(scoped.token?.metadata).toEqual({ team: 'ops' })
    expect(actingAs<{ id: number }, Post>({ id: 1 }, ['posts:*']).tokenCan('posts:read')).toBe(false)
  })

  it('holds abilities to the app’s registry, as a real token is held, and reads scopes as it does', () => {
    const permissions = new PermissionRegistry({ permissions: ['posts:read', 'posts:update'], scopes: true })
    expect(() => actingAs({ id: 1 }, ['posts:raed'], { permissions })).toThrow(MisconfigurationError)
    expect(actingAs({ id: 1 }, ['posts:*'], { permissions }).tokenCan('posts:read')).toBe(true)
  })

  it('refuses `*` with a registry unless allowed, as the service does', () => {
    const permissions = new PermissionRegistry({ permissions: ['posts:read', 'posts:update'] })
    expect(() => actingAs({ id: 1 }, ['*'], { permissions })).toThrow(/allowWildcard/)
    expect(actingAs({ id: 1 }, ['*'], { permissions, allowWildcard: true }).tokenCan('posts:update')).toBe(
      true,
    )
    expect(() => actingAs({ id: 1 }, ['*'], { allowWildcard: false })).toThrow(MisconfigurationError)
    expect(actingAs({ id: 1 }, ['*']).tokenCan('anything' as never)).toBe(true)
  })

  it('copies metadata through JSON as a real token’s is, leaving the caller’s object as it was', () => {
    const given = { since: new Date(0), nested: { team: 'a' } }
    const auth = actingAs({ id: 1 }, ['read'], { metadata: given as never })
    expect(auth.token?.metadata).toEqual({ since: '1970-01-01T00:00:00.000Z', nested: { team: 'a' } })
    given.nested.team = 'b'
    expect(auth.token?.metadata).toMatchObject({ nested: { team: 'a' } })
  })

  it('makes a guest of a null user, or any falsy one, as the guard does: no token, so no ability', () => {
    for (const user of [null, undefined, false, 0, '']) {
      const guest = actingAs(user, ['read'])
      expect(guest.token, String(user)).toBeNull()
      expect(guest.tokenCan('read' as never)).toBe(false)
    }
  })
})
