import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { closeSync, existsSync, openSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import { createTokens, type TokenService } from '@jetstream/tokens'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { drizzleAuditLog } from './audit-log.js'
import { drizzleStore } from './drizzle-token-store.js'
import { postgresJsDatabase, serverUrl, type TestDatabase } from './test-support/databases.js'

// The bin as published: `pnpm test` builds before it runs the tests.
const bin = fileURLToPath(new URL('../dist/cli.js', import.meta.url))

interface Run {
  readonly args: readonly string[]
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Every run of the bin, for the last test: no secret or hash in any of them. */
const runs: Run[] = []
/** Every plain text issued in these tests, by the bin or through the API. */
const plainTexts: string[] = []

/** Runs `node dist/cli.js …args` with only PATH and `env` in its environment. */
function cli(
  args: readonly string[],
  env: Record<string, string> = {},
  node: readonly string[] = [],
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...node, bin, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        // A run killed by the timeout has no exit code: null, which fails every expectation on it.
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0
        const run = { args, code, stdout, stderr }
        runs.push(run)
        resolve(run)
      },
    )
  })
}

/** Node options that make `import(name)` fail as it does when a package is not installed. */
function withoutPackages(names: readonly string[]): string[] {
  const hooks = `export async function resolve(specifier, context, next) {
    if (${JSON.stringify(names)}.includes(specifier)) {
      throw Object.assign(new Error('Cannot find package ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' })
    }
    return next(specifier, context)
  }`
  const register = `import { register } from 'node:module'
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)})`
  return ['--import', `data:text/javascript,${encodeURIComponent(register)}`]
}

/** The URL of the server with its sessions in `schema` (postgres.js and node-postgres both send `options`). */
function inSchema(url: string, schema: string): string {
  return `${url}${url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`
}

function expectOneLine(run: Run, code: number): void {
  expect(run.code).toBe(code)
  expect(run.stderr).toMatch(/^jetstream-tokens: [^\n]+\n$/)
}

function secretOf(plainText: string): string {
  return plainText.slice(plainText.indexOf('|') + 1)
}

function hashOf(plainText: string): string {
  return createHash('sha256').update(secretOf(plainText)).digest('hex')
}

describe.skipIf(!serverUrl)('the jetstream-tokens command line', () => {
  let database: TestDatabase & { schema: string }
  let env: Record<string, string>
  let tokens: TokenService

  beforeAll(async () => {
    if (!existsSync(bin))
      throw new Error(`${bin} is missing: build first (pnpm --filter @jetstream/drizzle build)`)
    database = await postgresJsDatabase(serverUrl as string)
    env = { DATABASE_URL: inSchema(serverUrl as string, database.schema) }
    tokens = createTokens({ store: drizzleStore(database.db), lastUsed: false })
  }, 60_000)
  afterAll(async () => {
    await database?.close()
  }, 30_000)

  /** `create` through the bin; the plain text it printed, checked to be all of stdout. */
  async function create(args: readonly string[], node: readonly string[] = []): Promise<string> {
    const run = await cli(['create', ...args], env, node)
    expect(run.code).toBe(0)
    expect(run.stdout).toMatch(/^\d+\|[\w-]*[A-Za-z0-9]{48}\n$/)
    const plainText = run.stdout.trimEnd()
    plainTexts.push(plainText)
    expect(run.stderr).toMatch(/^Created token \d+ [^\n]+\n$/)
    return plainText
  }

  it('shows help for the program and each command on stdout, without a database', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const run = await cli(args)
      expect(run).toMatchObject({ code: 0, stderr: '' })
      expect(run.stdout).toContain('Usage: jetstream-tokens <command> [options]')
      for (const command of ['prune', 'list', 'create', 'revoke'])
        expect(run.stdout).toMatch(`\n  ${command} `)
      expect(run.stdout).toContain('DATABASE_URL')
      expect(run.stdout).toContain('JETSTREAM_TOKENS_HASH_KEY')
    }
    const options = {
      prune: ['--hours <hours>', '--expiration <minutes>'],
      list: ['--owner <id>', '--owner-type <type>', '--json'],
      create: [
        '--owner <id>',
        '--name <name>',
        '--abilities <a,b>',
        '--expires-at <date>',
        '--prefix <prefix>',
      ],
      revoke: ['--owner <id>', '--id <token id>', '--owner-type <type>'],
    }
    for (const [command, names] of Object.entries(options)) {
      for (const args of [
        [command, '--help'],
        [command, '-h'],
        ['help', command],
      ]) {
        const run = await cli(args)
        expect(run).toMatchObject({ code: 0, stderr: '' })
        expect(run.stdout).toMatch(new RegExp(`^Usage: jetstream-tokens ${command} `))
        for (const name of [...names, '-h, --help']) expect(run.stdout).toContain(`  ${name}`)
      }
    }
  }, 60_000)

  it('create prints the plain text alone on stdout, and the service accepts it', async () => {
    const plainText = await create(['--owner', '42', '--name', 'CI deploy', '--abilities', 'read, update'])
    const token = await tokens.authenticate(plainText)
    expect(token?.toJSON()).toMatchObject({
      owner: { type: 'user', id: '42' },
      name: 'CI deploy',
      abilities: ['read', 'update'],
      expiresAt: null,
    })

    const everything = await create([
      '--owner=7',
      '--owner-type=team',
      '--name=all of it',
      '--abilities=*',
      '--expires-at=2099-01-31',
    ])
    const all = await tokens.authenticate(everything)
    expect(all?.toJSON()).toMatchObject({ owner: { type: 'team', id: '7' }, abilities: ['*'] })
    expect(all?.expiresAt?.toISOString()).toBe('2099-01-31T00:00:00.000Z')

    const prefixed = await create([
      '--owner',
      '42',
      '--name',
      'prefixed',
      '--abilities',
      'read',
      '--prefix',
      'acme_',
    ])
    expect(secretOf(prefixed)).toMatch(/^acme_/)
    const acme = createTokens({ store: drizzleStore(database.db), lastUsed: false, prefix: 'acme_' })
    expect((await acme.authenticate(prefixed))?.name).toBe('prefixed')
  }, 60_000)

  it("create hashes with the app's key from JETSTREAM_TOKENS_HASH_KEY, and refuses a key that cannot be one", async () => {
    const hashKey = 'k'.repeat(40)
    const run = await cli(['create', '--owner', '42', '--name', 'keyed', '--abilities', 'read'], {
      ...env,
      JETSTREAM_TOKENS_HASH_KEY: hashKey,
    })
    expect(run.code).toBe(0)
    const plainText = run.stdout.trimEnd()
    plainTexts.push(plainText)
    const keyed = createTokens({ store: drizzleStore(database.db), lastUsed: false, hashKey })
    expect((await keyed.authenticate(plainText))?.name).toBe('keyed')
    expect(await tokens.authenticate(plainText)).toBeNull()

    const short = await cli(['create', '--owner', '42', '--name', 'x', '--abilities', 'read'], {
      ...env,
      JETSTREAM_TOKENS_HASH_KEY: 'too-short-a-key',
    })
    expectOneLine(short, 2)
    expect(short.stderr).toContain("JETSTREAM_TOKENS_HASH_KEY must be the app's hashKey")
    expect(short.stderr).not.toContain('too-short-a-key')
    expect(short.stdout).toBe('')
    // Only a bad key is blamed on the variable, and only create, which hashes, reads it.
    const prefix = await cli(
      ['create', '--owner', '42', '--name', 'x', '--abilities', 'read', '--prefix', 'a b'],
      {
        ...env,
        JETSTREAM_TOKENS_HASH_KEY: hashKey,
      },
    )
    expectOneLine(prefix, 2)
    expect(prefix.stderr).not.toContain('JETSTREAM_TOKENS_HASH_KEY')
    const listed = await cli(['list', '--owner', '42'], {
      ...env,
      JETSTREAM_TOKENS_HASH_KEY: 'too-short-a-key',
    })
    expect(listed.code).toBe(0)
  }, 60_000)

  it("list shows the owner's tokens as a table and as JSON, never a secret or hash", async () => {
    const plainText = await create(['--owner', 'lister', '--name', 'listed', '--abilities', 'read,update'])
    const id = plainText.slice(0, plainText.indexOf('|'))

    const table = await cli(['list', '--owner', 'lister'], env)
    expect(table).toMatchObject({ code: 0, stderr: '' })
    const [header, row, ...rest] = table.stdout.trimEnd().split('\n')
    expect(header?.split(/\s{2,}/)).toEqual(['ID', 'NAME', 'ABILITIES', 'LAST USED', 'EXPIRES', 'CREATED'])
    expect(row?.split(/\s{2,}/).slice(0, 5)).toEqual([id, 'listed', 'read,update', 'never', 'never'])
    expect(rest).toEqual([])

    const json = await cli(['list', '--owner', 'lister', '--json'], env)
    expect(json).toMatchObject({ code: 0, stderr: '' })
    const listed = JSON.parse(json.stdout) as Record<string, unknown>[]
    expect(listed).toHaveLength(1)
    expect(listed[0]).toMatchObject({
      id,
      owner: { type: 'user', id: 'lister' },
      name: 'listed',
      abilities: ['read', 'update'],
      lastUsedAt: null,
      expiresAt: null,
    })
    expect(Object.keys(listed[0] ?? {})).not.toContain('token')
    expect(Object.keys(listed[0] ?? {})).not.toContain('tokenHash')

    const team = await cli(['list', '--owner', '7', '--owner-type', 'team', '--json'], env)
    expect((JSON.parse(team.stdout) as { name: string }[]).map((token) => token.name)).toEqual(['all of it'])
    expect(await cli(['list', '--owner', 'nobody'], env)).toMatchObject({
      code: 0,
      stdout: 'user nobody has no tokens.\n',
      stderr: '',
    })
    expect(JSON.parse((await cli(['list', '--owner', 'nobody', '--json'], env)).stdout)).toEqual([])
  }, 60_000)

  it.skipIf(!existsSync('/dev/full'))(
    'create revokes the token it made when its plain text cannot be written, and says so in one line',
    async () => {
      // stdout on a full disk: the write fails, after the token was stored.
      const full = openSync('/dev/full', 'w')
      const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(
          process.execPath,
          [bin, 'create', '--owner', 'full-disk', '--name', 'lost', '--abilities', '*'],
          { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', full, 'pipe'], timeout: 20_000 },
        )
        let stderr = ''
        child.stderr?.on('data', (chunk: Buffer) => {
          stderr += chunk.toString()
        })
        child.on('close', (code) => resolve({ code, stderr }))
      })
      closeSync(full)
      runs.push({ args: ['create', '> /dev/full'], stdout: '', ...run })
      expect(run.code).toBe(1)
      expect(run.stderr).toMatch(
        /^jetstream-tokens: cannot write the output: ENOSPC[^\n]*; nobody has token \d+'s plain text, so it was revoked\n$/,
      )
      expect(await tokens.list('full-disk')).toEqual([])
    },
    30_000,
  )

  it('records what it creates and revokes in the audit trail, as the command line', async () => {
    const plainText = await create(['--owner', 'audited', '--name', 'watched', '--abilities', 'read'])
    const id = plainText.slice(0, plainText.indexOf('|'))
    expect(await cli(['revoke', '--owner', 'audited', '--id', id], env)).toMatchObject({
      code: 0,
      stderr: '',
    })
    const audit = drizzleAuditLog(database.db)
    try {
      const events = await audit.recent({ type: 'user', id: 'audited' }, id, 10)
      expect(events.map(({ action, actor, ip, userAgent }) => ({ action, actor, ip, userAgent }))).toEqual([
        { action: 'revoked', actor: null, ip: null, userAgent: 'jetstream-tokens' },
        { action: 'created', actor: null, ip: null, userAgent: 'jetstream-tokens' },
      ])
    } finally {
      await audit.close()
    }
  }, 30_000)

  it('revoke deletes the token; revoking it again fails with one line', async () => {
    const plainText = await create(['--owner', 'revoker', '--name', 'short-lived', '--abilities', 'read'])
    const id = plainText.slice(0, plainText.indexOf('|'))
    expect(await cli(['revoke', '--owner', 'someone-else', '--id', id], env)).toMatchObject({ code: 1 })
    expect(await tokens.authenticate(plainText)).not.toBeNull()

    expect(await cli(['revoke', '--owner', 'revoker', '--id', id], env)).toMatchObject({
      code: 0,
      stdout: `Revoked token ${id} of user revoker.\n`,
      stderr: '',
    })
    expect(await tokens.authenticate(plainText)).toBeNull()

    const again = await cli(['revoke', '--owner', 'revoker', '--id', id], env)
    expectOneLine(again, 1)
    expect(again.stderr).toBe(`jetstream-tokens: user revoker has no token '${id}'\n`)
    // A plain text, or its secret, pasted as the id by mistake: refused, and not repeated.
    const secret = plainText.slice(plainText.indexOf('|') + 1)
    for (const pasted of [plainText, secret]) {
      const answer = await cli(['revoke', '--owner', 'revoker', '--id', pasted], env)
      expectOneLine(answer, pasted === secret ? 1 : 2)
      expect(answer.stderr).not.toContain(secret)
      expect(answer.stderr).toContain('not repeated: it may be a secret')
    }
  }, 60_000)

  it('prune removes tokens expired for more than --hours, by age too with --expiration, and warns without it', async () => {
    const hour = 3_600_000
    const madeAt = (hoursAgo: number) =>
      createTokens({
        store: drizzleStore(database.db),
        lastUsed: false,
        now: () => new Date(Date.now() - hoursAgo * hour),
      })
    const expiredLongAgo = await madeAt(72).create('pruned', 'expired 71 h ago', ['read'], {
      expiresAt: new Date(Date.now() - 71 * hour),
    })
    const old = await madeAt(72).create('pruned', 'made 72 h ago, no expiry', ['read'])
    const expiredLately = await madeAt(2).create('pruned', 'expired 1 h ago', ['read'], {
      expiresAt: new Date(Date.now() - hour),
    })
    const live = await tokens.create('pruned', 'live', ['read'], { expiresAt: new Date(Date.now() + hour) })
    plainTexts.push(...[expiredLongAgo, old, expiredLately, live].map((made) => made.plainTextToken))
    const left = async () => (await tokens.list('pruned')).map((token) => token.name).sort()

    const byExpiry = await cli(['prune'], env)
    expect(byExpiry).toMatchObject({ code: 0, stdout: 'Pruned 1 token expired for more than 24 hours.\n' })
    expect(byExpiry.stderr).toMatch(
      /^Warning: Expiration value for personal access tokens was not set\.[^\n]*\n$/,
    )
    expect(await left()).toEqual(['expired 1 h ago', 'live', 'made 72 h ago, no expiry'])

    // 72 h > 60 min + 24 h: the token made 72 h ago has outlived the app's lifetime by more than --hours.
    const byAge = await cli(['prune', '--hours', '24', '--expiration', '60'], env)
    expect(byAge).toMatchObject({
      code: 0,
      stdout: 'Pruned 1 token expired for more than 24 hours.\n',
      stderr: '',
    })
    expect(await left()).toEqual(['expired 1 h ago', 'live'])

    const lately = await cli(['prune', '--hours=0', '--expiration=525600'], env)
    expect(lately).toMatchObject({
      code: 0,
      stdout: 'Pruned 1 token expired for more than 0 hours.\n',
      stderr: '',
    })
    expect(await left()).toEqual(['live'])
    expect(await tokens.authenticate(live.plainTextToken)).not.toBeNull()
  }, 60_000)

  it('refuses a bad command line or value with exit 2 and one line on stderr', async () => {
    const cases: [args: string[], message: string | RegExp][] = [
      [[], /a command is required/],
      [['bogus'], /unknown command 'bogus'/],
      [['--hours', '3', 'prune'], /the command comes first/],
      [['prune', '--bogus'], /unknown option '--bogus' for prune/],
      // One dash: not `-h -o -u -r -s`, whose -h would show the help and exit 0 without pruning.
      [['prune', '-hours', '48'], /unknown option '-hours' for prune/],
      [['revoke', '--owner', '1', '--id', '5', '--id', '6'], /--id is given twice/],
      [['prune', 'now'], /unexpected argument 'now'/],
      [['list'], /--owner is required/],
      [['list', '--owner', '--json'], /--owner needs a value/],
      [['list', '--owner', '1', '--json=yes'], /--json takes no value/],
      [['revoke', '--owner', '1'], /--id is required/],
      // Not a token id (the core would only say there is no such token): a bad value, before any connection.
      [['revoke', '--owner', '1', '--id', '01'], /--id must be a token id as list shows it, not '01'/],
      [['revoke', '--owner', '1', '--id', '1.5'], /--id must be a token id/],
      // Another owner than 77, whose tokens the app would never show.
      [
        ['create', '--owner', ' 77', '--name', 'x', '--abilities', 'read'],
        /--owner must be an owner id without spaces/,
      ],
      [['create', '--owner', '1', '--name', 'x'], /--abilities is required/],
      [['prune', '--hours', '-1'], 'jetstream-tokens: --hours must be a number of hours, 0 or more\n'],
      [['prune', '--hours=-1'], 'jetstream-tokens: --hours must be a number of hours, 0 or more\n'],
      [['prune', '--hours', 'soon'], /--hours must be a number/],
      [['prune', '--hours'], /--hours needs a value/],
      [['prune', '--expiration', '0'], /--expiration must be a number of minutes greater than 0/],
      [
        ['create', '--owner', '1', '--name', 'x', '--abilities', 'read', '--expires-at', 'tomorrow'],
        /--expires-at/,
      ],
      [
        ['create', '--owner', '1', '--name', 'x', '--abilities', 'read', '--expires-at', '2030-02-30'],
        /--expires-at/,
      ],
      // Refused by the core, after the database answered.
      [
        ['create', '--owner', '1', '--name', 'x'.repeat(256), '--abilities', 'read'],
        /name .* 255 characters/,
      ],
      [
        ['create', '--owner', '1', '--name', 'x', '--abilities', 'read', '--expires-at', '2001-01-01'],
        /after now/,
      ],
      [['create', '--owner', '1', '--name', 'x', '--abilities', 'read', '--prefix', 'no spaces'], /prefix/],
    ]
    for (const [args, message] of cases) {
      const run = await cli(args, env)
      expectOneLine(run, 2)
      expect(run.stdout).toBe('')
      if (typeof message === 'string') expect(run.stderr).toBe(message)
      else expect(run.stderr).toMatch(message)
    }
    const unset = await cli(['list', '--owner', '1'])
    expectOneLine(unset, 2)
    expect(unset.stderr).toMatch(/DATABASE_URL is not set/)
    expectOneLine(await cli(['list', '--owner', '1'], { DATABASE_URL: 'mysql://localhost/app' }), 2)
  }, 120_000)

  describe('a database it cannot use', () => {
    const password = 'pw-that-must-not-show'
    let silent: Server

    beforeAll(async () => {
      // Accepts connections, reads what is sent and never answers: a server that hangs.
      silent = createServer((socket) => socket.resume())
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    }, 10_000)
    afterAll(async () => {
      await new Promise((resolve) => silent.close(resolve))
    }, 10_000)

    it('reports a refused connection in one line, without the password, exit 1', async () => {
      const refused = {
        DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:1/test`,
        PGPASSWORD: password,
      }
      for (const args of [
        ['list', '--owner', '1'],
        ['prune'],
        ['create', '--owner', '1', '--name', 'x', '--abilities', 'read'],
        ['revoke', '--owner', '1', '--id', '1'],
      ]) {
        const run = await cli(args, refused)
        expectOneLine(run, 1)
        expect(run.stderr).toMatch(/^jetstream-tokens: cannot reach the database: .*ECONNREFUSED/)
        expect(run.stdout).toBe('')
        expect(run.stderr).not.toContain(password)
      }
    }, 60_000)

    it('gives up on a server that never answers, in one line', async () => {
      const { port } = silent.address() as { port: number }
      const run = await cli(['list', '--owner', '1'], {
        DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${port}/test`,
      })
      expectOneLine(run, 1)
      expect(run.stderr).toMatch(/^jetstream-tokens: cannot reach the database: no answer within \d+ s\n$/)
      expect(run.stderr).not.toContain(password)
    }, 30_000)

    it('gives up on a server that hangs after the login with node-postgres too, within the deadline and a second', async () => {
      // Passes the login through, then holds everything the client sends: the first statement never answers, and
      // node-postgres's pool.end() waits for it without end.
      const target = new URL(serverUrl as string)
      const frozen = createServer((client) => {
        const upstream = connect(Number(target.port || 5432), target.hostname)
        let first = true
        client.on('data', (chunk) => {
          if (first) upstream.write(chunk)
          first = false
        })
        upstream.pipe(client)
        client.on('error', () => upstream.destroy())
        upstream.on('error', () => client.destroy())
        client.on('close', () => upstream.destroy())
      })
      await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve))
      try {
        const { port } = frozen.address() as { port: number }
        const started = Date.now()
        const run = await cli(
          ['list', '--owner', '1'],
          { DATABASE_URL: `postgres://postgres:${password}@127.0.0.1:${port}${target.pathname}` },
          withoutPackages(['postgres']),
        )
        expectOneLine(run, 1)
        expect(run.stderr).toMatch(/^jetstream-tokens: cannot reach the database: no answer within 5 s\n$/)
        // The 5 s deadline, at most a second to close, and the process's start: far below the 20 s kill.
        expect(Date.now() - started).toBeLessThan(15_000)
      } finally {
        frozen.close()
      }
    }, 30_000)

    it.skipIf(!process.env.PGBOUNCER_URL)(
      'says in one line what to change behind PgBouncer, which refuses the statement_timeout it sets',
      async () => {
        const run = await cli(['list', '--owner', '1'], { DATABASE_URL: process.env.PGBOUNCER_URL as string })
        expectOneLine(run, 1)
        expect(run.stderr).toMatch(
          /unsupported startup parameter.*direct connection.*ignore_startup_parameters/,
        )
      },
      30_000,
    )

    it('says in one line that the table is missing', async () => {
      const run = await cli(['list', '--owner', '1'], {
        DATABASE_URL: inSchema(serverUrl as string, `${database.schema}_absent`),
      })
      expectOneLine(run, 1)
      expect(run.stderr).toMatch(/the table personal_access_tokens does not exist/)
    }, 30_000)
  })

  it('says in one line that a Laravel table lacks the metadata column, where a command needs it', async () => {
    const laravel = `${database.schema}_laravel`
    await database.exec(`create schema ${laravel}`)
    try {
      await database.exec(`create table ${laravel}.personal_access_tokens (
        id bigserial primary key, tokenable_type varchar(255) not null, tokenable_id bigint not null,
        name text not null, token varchar(64) not null unique, abilities text, last_used_at timestamp(0),
        expires_at timestamp(0), created_at timestamp(0), updated_at timestamp(0))`)
      const run = await cli(['list', '--owner', '1'], {
        DATABASE_URL: inSchema(serverUrl as string, laravel),
      })
      expectOneLine(run, 1)
      expect(run.stderr).toMatch(
        /lacks a column .*metadata.*: the command line works on the table migrate\(db\) makes/,
      )
    } finally {
      await database.exec(`drop schema ${laravel} cascade`)
    }
  }, 30_000)

  it('uses node-postgres when postgres.js is not installed, and names both when neither is', async () => {
    const withPg = withoutPackages(['postgres'])
    const plainText = await create(['--owner', 'pg', '--name', 'through pg', '--abilities', 'read'], withPg)
    expect((await tokens.authenticate(plainText))?.name).toBe('through pg')
    const listed = await cli(['list', '--owner', 'pg', '--json'], env, withPg)
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((token) => token.name)).toEqual([
      'through pg',
    ])
    const id = plainText.slice(0, plainText.indexOf('|'))
    expect(await cli(['revoke', '--owner', 'pg', '--id', id], env, withPg)).toMatchObject({ code: 0 })
    expect(await tokens.authenticate(plainText)).toBeNull()

    const neither = await cli(['list', '--owner', 'pg'], env, withoutPackages(['postgres', 'pg']))
    expectOneLine(neither, 1)
    expect(neither.stderr).toMatch(/install postgres \(postgres\.js\) or pg/)
  }, 60_000)

  it('never printed a secret or a hash, but for the plain text create prints on stdout', () => {
    expect(plainTexts.length).toBeGreaterThan(5)
    for (const run of runs) {
      for (const plainText of plainTexts) {
        expect(run.stderr).not.toContain(secretOf(plainText))
        expect(run.stderr).not.toContain(hashOf(plainText))
        expect(run.stdout).not.toContain(hashOf(plainText))
        if (run.stdout !== `${plainText}\n`) expect(run.stdout).not.toContain(secretOf(plainText))
      }
    }
  })
})
