import { describe, expect, it } from 'vitest'
import { type Auth, createAuth } from './auth.js'
import { ForbiddenError, UnauthenticatedError } from './errors.js'
import { PersonalAccessToken } from './personal-access-token.js'
import { allows, definePolicies } from './policies.js'
import { TransientToken } from './transient-token.js'

interface User {
  id: string
}
interface Post {
  authorId: string
}
type AppAuth = Auth<User, 'read' | 'update'>

const posts = definePolicies({
  view: (auth: AppAuth, _post: Post) => auth.tokenCan('read'),
  update: (auth: AppAuth, post: Post) => auth.tokenCan('update') && post.authorId === auth.user.id,
  archive: async (auth: AppAuth, post: Post) => post.authorId === auth.user.id,
})

function tokenWith(abilities: string[]): PersonalAccessToken<'read' | 'update'> {
  return new PersonalAccessToken({
    id: '1',
    owner: { type: 'user', id: '42' },
    name: 't',
    abilities,
    lastUsedAt: null,
    expiresAt: null,
    createdAt: new Date(),
  })
}

const mine: Post = { authorId: '42' }
const theirs: Post = { authorId: '7' }

describe('policies', () => {
  it('definePolicies returns the policies unchanged', () => {
    expect(Object.keys(posts)).toEqual(['view', 'update', 'archive'])
  })

  it('allows when the policy says yes, for tokens and sessions alike', async () => {
    const reader = createAuth<User, 'read' | 'update'>({ id: '42' }, tokenWith(['read']))
    expect(await allows(reader, posts.view, mine)).toBe(true)
    expect(await allows(reader, posts.update, mine)).toBe(false)
    const session = createAuth<User, 'read' | 'update'>({ id: '42' }, new TransientToken())
    expect(await allows(session, posts.update, mine)).toBe(true)
    expect(await allows(session, posts.update, theirs)).toBe(false)
    expect(await allows(session, posts.archive, mine)).toBe(true)
  })

  it('never allows a guest, and never calls the policy for one', async () => {
    let called = false
    const policy = (_auth: AppAuth, _post: Post) => {
      called = true
      return true
    }
    expect(await allows(createAuth<User | null, 'read' | 'update'>(null, null), policy, mine)).toBe(false)
    expect(called).toBe(false)
  })

  it('auth.authorize rejects with 401 for a guest and 403 for a refusal', async () => {
    await expect(
      createAuth<User | null, 'read' | 'update'>(null, null).authorize(posts.view, mine),
    ).rejects.toBeInstanceOf(UnauthenticatedError)
    const writer = createAuth<User, 'read' | 'update'>({ id: '42' }, tokenWith(['update']))
    await expect(writer.authorize(posts.update, theirs)).rejects.toBeInstanceOf(ForbiddenError)
    await expect(writer.authorize(posts.update, mine)).resolves.toBeUndefined()
  })

  it('treats anything but true as a refusal', async () => {
    const auth = createAuth<User, 'read' | 'update'>({ id: '42' }, new TransientToken())
    const sloppy = (() => 'yes') as unknown as (auth: AppAuth, post: Post) => boolean
    await expect(auth.authorize(sloppy, mine)).rejects.toBeInstanceOf(ForbiddenError)
  })
})
