// Instance B of the two-process test: its own process, its own connection pool and verification cache, on the
// schema the parent names. It answers `{ id, token }` messages with what `authenticate` found.
import { drizzleStore } from '@jetstream/drizzle'
import { createTokens } from '@jetstream/tokens'
import { drizzle } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'

const [url, schema] = process.argv.slice(2)
let lookups = 0
const client = postgres(url, {
  onnotice: () => {},
  connection: { search_path: schema, application_name: `jetstream_b_${schema}` },
  debug: (_connection, query) => {
    if (query.startsWith('select "id"')) lookups++
  },
})
const tokens = createTokens({
  store: drizzleStore(drizzle(client), { probeInterval: 100 }),
  cache: true,
  lastUsed: false,
})

process.on('message', async ({ id, token }) => {
  const before = lookups
  const found = await tokens.authenticate(token).catch(() => null)
  process.send?.({ id, abilities: found ? [...found.abilities] : null, fromCache: lookups === before })
})
process.on('disconnect', async () => {
  await tokens.close()
  await client.end({ timeout: 1 })
  process.exit(0)
})
process.send?.({ ready: true })
