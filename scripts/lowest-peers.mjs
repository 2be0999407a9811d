// Proves the peer ranges the packages declare: in a copy of the repository the packages are built as they are
// published, then every declared peer (hono, koa, express, drizzle-orm, vitest, @opentelemetry/api) is pinned to the lowest version its
// range admits, as a consumer might have it, and the suites that use them run: the cross-adapter scenario suite and answer table, the drizzle store's
// conformance suite (on PGlite, and on the server when DATABASE_URL is set), and the OpenTelemetry entry's tests.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const lowest = {}
const declaredBy = {}
for (const dir of readdirSync(join(root, 'packages'))) {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'))
  if (manifest.private) continue
  for (const [name, range] of Object.entries(manifest.peerDependencies ?? {})) {
    if (range.startsWith('workspace:')) continue
    // The ranges are written as `^x.y.z` or `>=x.y.z …`: their lowest version is the first one named.
    const version = /\d+\.\d+\.\d+/.exec(range)?.[0]
    if (!version) throw new Error(`${manifest.name}: cannot read the lowest version of ${name}@${range}`)
    if (lowest[name] && lowest[name] !== version)
      throw new Error(`${name}: packages disagree on its lowest version`)
    lowest[name] = version
    declaredBy[name] = dir
  }
}
console.log('lowest declared peers:', lowest)

const work = mkdtempSync(join(tmpdir(), 'lowest-peers-'))
const run = (command, args) => execFileSync(command, args, { cwd: work, stdio: 'inherit', env: process.env })
try {
  execFileSync('sh', ['-c', `git -C "${root}" archive HEAD | tar -x -C "${work}"`], { stdio: 'inherit' })
  run('pnpm', ['install', '--frozen-lockfile', '--reporter=append-only'])
  run('pnpm', ['build'])
  const manifest = JSON.parse(readFileSync(join(work, 'package.json'), 'utf8'))
  manifest.pnpm.overrides = { ...manifest.pnpm.overrides, ...lowest }
  writeFileSync(join(work, 'package.json'), JSON.stringify(manifest, null, 2))
  run('pnpm', ['install', '--no-frozen-lockfile', '--reporter=append-only'])
  for (const [name, version] of Object.entries(lowest)) {
    const where = join(work, 'packages', declaredBy[name], 'node_modules', name, 'package.json')
    const installed = JSON.parse(readFileSync(where, 'utf8')).version
    if (installed !== version) throw new Error(`${name} ${installed} is installed, not ${version}`)
  }
  run('npx', [
    'vitest',
    'run',
    ...['hono', 'koa', 'express'].flatMap((project) => ['--project', project]),
    '--project',
    'drizzle',
    '--project',
    'tokens',
    'scenarios',
    'drizzle.e2e',
    'conformance',
    'opentelemetry',
  ])
} finally {
  rmSync(work, { recursive: true, force: true })
}
