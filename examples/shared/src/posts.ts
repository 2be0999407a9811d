/** A post: the resource the example API guards. */
export interface Post {
  readonly id: string
  readonly authorId: string
  readonly title: string
}

/** Posts in memory, seeded with one post per demo user. */
export class PostRepository {
  readonly #posts = new Map<string, Post>([
    ['1', { id: '1', authorId: '1', title: 'Hello from the demo user' }],
    ['2', { id: '2', authorId: '2', title: 'A post by someone else' }],
  ])
  #lastId = 2

  all(): Post[] {
    return [...this.#posts.values()]
  }

  find(id: string): Post | null {
    return this.#posts.get(id) ?? null
  }

  create(authorId: string, title: string): Post {
    const post = { id: String(++this.#lastId), authorId, title }
    this.#posts.set(post.id, post)
    return post
  }

  update(post: Post, title: string): Post {
    const updated = { ...post, title }
    this.#posts.set(post.id, updated)
    return updated
  }

  delete(post: Post): void {
    this.#posts.delete(post.id)
  }
}

/** A post title from a request body: a string of 1 to 200 characters. */
export function postTitle(body: unknown): string | null {
  const title = (body as { title?: unknown } | null)?.title
  return typeof title === 'string' && title.trim() !== '' && title.length <= 200 ? title.trim() : null
}

/** The 422 answer for a missing or invalid title, the same in every example app. */
export const titleRequired = {
  message: 'The title field is required.',
  code: 'invalid_input',
  errors: { title: ['The title field is required.'] },
} as const
