import { PGlite } from '@electric-sql/pglite'
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import pg from 'pg'
import postgres from 'postgres'
import type { AnyPgDatabase } from '../drizzle-token-store.js'
import { migrate } from '../migrate.js'

/** A migrated database for one test file, and how to count what it sends. */
export interface TestDatabase {
  readonly db: AnyPgDatabase
  /** Statements sent, as the driver saw them (PGlite and postgres.js; empty for node-postgres). */
  readonly statements: string[]
  /** Runs plain SQL (no parameters) on the same database and schema. */
  exec(query: string): Promise<void>
  close(): Promise<void>
}

/** The PostgreSQL server to test against: DATABASE_URL. CI sets it; elsewhere its absence skips server tests. */
export const serverUrl: string | undefined = process.env.DATABASE_URL
if (!serverUrl && process.env.CI) {
  throw new Error('CI must test against the PostgreSQL server: set DATABASE_URL (.ci/run does).')
}
if (!serverUrl) {
  console.warn(
    'skipped: the tests on a PostgreSQL server (PGlite ones run); set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test to run them',
  )
}

/** Records every statement PGlite runs, at the client, where all of drizzle's queries pass. */
function countStatements(client: PGlite, statements: string[]): void {
  for (const method of ['query', 'exec'] as const) {
    const original = (client[method] as (...args: unknown[]) => unknown).bind(client)
    client[method] = ((text: string, ...rest: unknown[]) => {
      statements.push(text)
      return original(text, ...rest)
    }) as never
  }
}

/** An in-process PGlite, migrated. */
export async function pgliteDatabase(): Promise<TestDatabase & { client: PGlite }> {
  const client = new PGlite()
  const statements: string[] = []
  countStatements(client, statements)
  const db = drizzlePglite(client)
  await migrate(db)
  statements.length = 0
  return {
    db,
    client,
    statements,
    exec: async (query) => void (await client.exec(query)),
    close: () => client.close(),
  }
}

/** A schema of its own on the server, so test files running side by side cannot collide. */
async function freshSchema(url: string): Promise<{ schema: string; drop: () => Promise<void> }> {
  const admin = postgres(url, { max: 1, onnotice: () => {} })
  const schema = `jetstream_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`
  await admin.unsafe(`create schema ${schema}`)
  return {
    schema,
    drop: async () => {
      await admin.unsafe(`drop schema if exists ${schema} cascade`)
      await admin.end()
    },
  }
}

/** postgres.js on the server, in a fresh schema, migrated. */
export async function postgresJsDatabase(
  url: string,
  options: postgres.Options<Record<string, postgres.PostgresType>> = {},
): Promise<TestDatabase & { client: postgres.Sql; schema: string }> {
  const { schema, drop } = await freshSchema(url)
  const statements: string[] = []
  const client = postgres(url, {
    onnotice: () => {},
    ...options,
    connection: { ...options.connection, search_path: schema },
    // The driver's own hook: every statement sent to the server, whoever built it.
    debug: (_connection, query) => void statements.push(query),
  })
  const db = drizzlePostgres(client)
  await migrate(db)
  statements.length = 0
  return {
    db,
    client,
    schema,
    statements,
    exec: async (query) => void (await client.unsafe(query)),
    close: async () => {
      await client.end({ timeout: 1 })
      await drop()
    },
  }
}

/** node-postgres on the server, in a fresh schema, migrated; `settings` are more `-c name=value` session settings. */
export async function nodePostgresDatabase(
  url: string,
  settings: Readonly<Record<string, string>> = {},
): Promise<TestDatabase & { schema: string }> {
  const { schema, drop } = await freshSchema(url)
  const options = Object.entries({ ...settings, search_path: schema })
    .map(([name, value]) => `-c ${name}=${value}`)
    .join(' ')
  const pool = new pg.Pool({ connectionString: url, options })
  const statements: string[] = []
  const db = drizzlePg(pool)
  await migrate(db)
  statements.length = 0
  return {
    db,
    schema,
    statements,
    exec: async (query) => void (await pool.query(query)),
    close: async () => {
      await pool.end()
      await drop()
    },
  }
}

/** PGlite, and the server through postgres.js when DATABASE_URL is set: the backends most suites run on. */
export function localAndServer(): [string, () => Promise<TestDatabase>][] {
  const backends: [string, () => Promise<TestDatabase>][] = [['PGlite', pgliteDatabase]]
  if (serverUrl) backends.push(['the PostgreSQL server', () => postgresJsDatabase(serverUrl as string)])
  return backends
}
