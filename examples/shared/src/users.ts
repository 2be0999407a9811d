import { timingSafeEqual } from 'node:crypto'

/** A user of the example apps. A real app keeps users in its own database. */
export interface User {
  readonly id: string
  readonly name: string
  readonly email: string
}

/** The demo sign-in printed by `pnpm demo`. */
export const demoCredentials = { email: 'demo@example.com', password: 'password' } as const

const users: readonly (User & { password: string })[] = [
  { id: '1', name: 'Demo User', ...demoCredentials },
  { id: '2', name: 'Other User', email: 'other@example.com', password: 'password' },
]

/** The user with this id, or null. */
export function findUser(id: unknown): User | null {
  const found = users.find((user) => user.id === id)
  return found ? publicUser(found) : null
}

/** The user these credentials sign in, or null. The password check takes the same time whether it matches or not. */
export function signIn(email: unknown, password: unknown): User | null {
  const found = users.find((user) => user.email === email)
  const given = Buffer.from(typeof password === 'string' ? password : '')
  const expected = Buffer.from(found?.password ?? '\0'.repeat(given.length || 1))
  const matches = given.length === expected.length && timingSafeEqual(given, expected)
  return found && matches ? publicUser(found) : null
}

function publicUser(user: User): User {
  return { id: user.id, name: user.name, email: user.email }
}
