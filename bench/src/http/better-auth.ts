import { apiKey } from '@better-auth/api-key'
import { betterAuth } from 'better-auth'
import { getMigrations } from 'better-auth/db/migration'
import pg from 'pg'

/**
 * better-auth with its API-key plugin, the peer in the verification table, on the same PostgreSQL (its own tables
 * in the bench's schema). Its per-key rate limit (10 a day by default) is switched off for a benchmark.
 * `onStatement` counts what its pool sends.
 */
export function peerAuth(url: string, schema: string, onStatement: () => void = () => {}) {
  const pool = new pg.Pool({ connectionString: url, options: `-c search_path=${schema}`, max: 10 })
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    ;(client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      onStatement()
      return query(...args)
    }
  })
  const auth = betterAuth({
    database: pool,
    secret: 'bench-secret-bench-secret-bench-secret-0123',
    baseURL: 'http://127.0.0.1',
    emailAndPassword: { enabled: true },
    plugins: [apiKey({ rateLimit: { enabled: false } })],
    logger: { disabled: true },
  })
  return { auth, pool }
}

/** Creates better-auth's tables, one user and one API key; returns the key. */
export async function peerKey(url: string, schema: string): Promise<string> {
  const { auth, pool } = peerAuth(url, schema)
  try {
    const { runMigrations } = await getMigrations(auth.options)
    await runMigrations()
    const { user } = await auth.api.signUpEmail({
      body: { email: 'bench@example.com', password: 'bench-password-1', name: 'Bench' },
    })
    const created = await auth.api.createApiKey({ body: { name: 'bench', userId: user.id } })
    return created.key
  } finally {
    await pool.end()
  }
}
