// Packs every published package as npm would receive it and checks what a consumer gets: only the files on the
// allow-list below (no tests, no test support), the files every package needs, the metadata a registry page
// shows, internal ranges that accept the releases made with them, and types that resolve (are-the-types-wrong,
// ESM-only profile: the packages ship ES modules only; `require()` of them works on Node >= 20.19). Then the
// pending release plan: no 0.x package is taken to 1.0.0 unless a changeset says `major`.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const allowed = [
  /^package\/(package\.json|README\.md|LICENSE)$/,
  /^package\/dist\/[\w./-]+\.(js|d\.ts|js\.map|d\.ts\.map)$/,
  /^package\/src\/(?!test-support\/)[\w./-]+(?<!\.test|\.test-d|\.suite)\.ts$/,
  /^package\/migrations\/[\w.-]+\.sql$/,
]
const required = [
  'package/package.json',
  'package/README.md',
  'package/LICENSE',
  'package/dist/index.js',
  'package/dist/index.d.ts',
]
const metadata = ['license', 'repository', 'homepage', 'bugs', 'keywords', 'engines']

const problems = []
const out = mkdtempSync(join(tmpdir(), 'packs-'))
try {
  for (const dir of readdirSync(join(root, 'packages'))) {
    const manifest = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8'))
    if (manifest.private) continue
    const say = (problem) => problems.push(`${manifest.name}: ${problem}`)
    const before = new Set(readdirSync(out))
    execFileSync('pnpm', ['pack', '--pack-destination', out], {
      cwd: join(root, 'packages', dir),
      stdio: 'pipe',
    })
    const tarball = join(
      out,
      readdirSync(out).find((file) => !before.has(file)),
    )
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n')
    for (const file of files) if (!allowed.some((pattern) => pattern.test(file))) say(`ships ${file}`)
    for (const file of required) if (!files.includes(file)) say(`lacks ${file}`)
    const packed = JSON.parse(
      execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }),
    )
    for (const field of metadata) if (!packed[field]) say(`has no "${field}"`)
    for (const kind of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [name, range] of Object.entries(packed[kind] ?? {})) {
        if (!name.startsWith('@jetstream/')) continue
        // A caret range of a 0.0.x version pins that one version; one of x.y.z with x or y above 0 takes its fixes.
        if (!/^\^(?:[1-9]\d*\.\d+|0\.[1-9]\d*)\.\d+$/.test(range))
          say(`${kind} ${name}@${range} does not accept compatible releases`)
      }
    }
    try {
      execFileSync('npx', ['--no-install', 'attw', tarball, '--profile', 'esm-only', '--format', 'ascii'], {
        stdio: 'pipe',
      })
    } catch (error) {
      say(`are-the-types-wrong:\n${error.stdout}`)
    }
    console.log(`${manifest.name}@${packed.version}: ${files.length} files`)
  }
  // Changesets 2 bumps every peer dependent of a package released `minor` to a new major: at 0.x, the adapters would
  // go 0.1.0 -> 1.0.0 beside a 0.2.0 core. patches/ gives it changesets 3's rule (a 0.x dependent is bumped by its
  // own changesets); this keeps that patch from being lost.
  const plan = join(out, 'release-plan.json')
  execFileSync('npx', ['--no-install', 'changeset', 'status', `--output=${plan}`], {
    cwd: root,
    stdio: 'pipe',
  })
  const { changesets, releases } = JSON.parse(readFileSync(plan, 'utf8'))
  const askedMajor = new Set(
    changesets.flatMap((changeset) =>
      changeset.releases.filter((release) => release.type === 'major').map((release) => release.name),
    ),
  )
  for (const release of releases) {
    if (release.oldVersion.startsWith('0.') && release.type === 'major' && !askedMajor.has(release.name)) {
      problems.push(`${release.name}: the release plan takes ${release.oldVersion} to ${release.newVersion}`)
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true })
}
if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log('every package packs what a consumer needs, and nothing else')
