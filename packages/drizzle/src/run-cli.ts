/// <reference types="node" />
// The library builds without Node's types (its store runs wherever drizzle does); the command line is Node's.
import { parseArgs } from 'node:util'
import {
  createTokens,
  isTokenError,
  isTokenId,
  type PersonalAccessToken,
  parseIsoDate,
  type TokenError,
  type TokenOwner,
  type TokenService,
} from '@jetstream/tokens'
import { sql } from 'drizzle-orm'
import { type DrizzleAuditLog, drizzleAuditLog } from './audit-log.js'
import { type AnyPgDatabase, drizzleStore } from './drizzle-token-store.js'

/**
 * Where {@link runCli} reads its environment and writes: the process's own in the `jetstream-tokens` bin.
 *
 * @example
 * ```ts
 * const io: CliIo = { env: { DATABASE_URL: url }, stdout: process.stdout, stderr: process.stderr }
 * ```
 */
export interface CliIo {
  /** `DATABASE_URL` is read from here. */
  readonly env: Readonly<Record<string, string | undefined>>
  /**
   * Results: the plain text of a new token, a listing, a count. `done` is called once the text is written, with
   * the error when it could not be (a full disk, a pipe closed early), as a Node stream does.
   */
  readonly stdout: { write(text: string, done: (error?: Error | null) => void): unknown }
  /** Errors (one line each), warnings, and what `create` says about the token it made. */
  readonly stderr: { write(text: string): unknown }
}

/**
 * Runs the `jetstream-tokens` command line (`prune`, `list`, `create`, `revoke`) on the `personal_access_tokens`
 * table of the database at `DATABASE_URL`, and resolves to the exit code: 0 done, 1 failed (the database, no such
 * token), 2 a bad command line or value. Never rejects; every failure is one line on `stderr`, without a stack,
 * a secret or the database password.
 *
 * @example
 * ```ts
 * process.exitCode = await runCli(['prune', '--hours', '24'], process)
 * ```
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const database = new Database(io)
  try {
    const parsed = parse(argv)
    if ('help' in parsed) {
      await output(io, parsed.help)
      return OK
    }
    return await parsed.command.run(parsed.options, { io, tokens: (settings) => database.tokens(settings) })
  } catch (error) {
    const [message, code] = explain(error)
    io.stderr.write(`${PROGRAM}: ${redact(printable(message), io.env)}\n`)
    return code
  } finally {
    await database.close()
  }
}

const PROGRAM = 'jetstream-tokens'
// How the audit trail tells the command line's changes from the app's: no actor (the app's own code) and this as
// the client.
const AUDIT_CONTEXT = { actor: null, ip: null, userAgent: PROGRAM } as const
const OK = 0
const FAILED = 1
const USAGE = 2
// Seconds to open a connection and answer a first `select 1`: an unreachable server is reported within this.
const CONNECT_TIMEOUT = 5
// Milliseconds a statement may run, in the process (the store's `timeout`) and on the server (`statement_timeout`,
// so the server stops it too). Generous, because `prune` of a large table is one DELETE.
const STATEMENT_TIMEOUT = 60_000
// Milliseconds closing the connection may take: by then the command's outcome is known, and node-postgres's
// `pool.end()` waits without end for a statement the server never answers.
const CLOSE_TIMEOUT = 1_000

/** An error whose message is the whole story, and the exit code it ends the program with. */
class CliError extends Error {
  readonly exitCode: number

  constructor(message: string, exitCode: number) {
    super(message)
    this.exitCode = exitCode
  }
}

function usage(message: string): CliError {
  return new CliError(message, USAGE)
}

interface OptionSpec {
  readonly type: 'string' | 'boolean'
  /** How the value reads in the help, e.g. `<id>`. */
  readonly value?: string
  readonly help: string
}

/** What a command gets to work with. */
interface Session {
  readonly io: CliIo
  /** The token service on `DATABASE_URL`; connects on first call. */
  tokens(settings?: ServiceSettings): Promise<TokenService>
}

interface ServiceSettings {
  readonly expiration?: number | null
  readonly prefix?: string
  /** Hash new tokens with the app's key (from the environment): only `create` hashes. */
  readonly hashed?: boolean
}

interface Command {
  readonly summary: string
  readonly usage: string
  readonly about: string
  readonly options: Readonly<Record<string, OptionSpec>>
  run(options: Options, session: Session): Promise<number>
}

const OWNER: OptionSpec = { type: 'string', value: '<id>', help: 'The owner id, e.g. a user id (required)' }
const OWNER_TYPE: OptionSpec = {
  type: 'string',
  value: '<type>',
  help: "The owner's type: the app's ownerType (default user)",
}

const commands: Readonly<Record<string, Command>> = {
  prune: {
    summary: "Delete tokens expired for more than --hours (Sanctum's sanctum:prune-expired)",
    usage: 'prune [--hours 24] [--expiration <minutes>]',
    about:
      'Deletes the tokens whose own expires_at passed more than --hours ago and, with --expiration, those\n' +
      'created more than expiration + hours ago. Without --expiration it warns, as Sanctum does, and prunes by\n' +
      'expires_at only. Run it from cron, a systemd timer or your app, e.g. every hour.',
    options: {
      hours: { type: 'string', value: '<hours>', help: 'How long expired tokens are kept (default 24)' },
      expiration: {
        type: 'string',
        value: '<minutes>',
        help: "The app's token lifetime (Sanctum's expiration), if it sets one",
      },
    },
    async run(options, { io, tokens }) {
      const hours = decimal(
        options.string('hours') ?? '24',
        (n) => n >= 0,
        '--hours must be a number of hours, 0 or more',
      )
      const given = options.string('expiration')
      const expiration =
        given === undefined
          ? null
          : decimal(given, (n) => n > 0, '--expiration must be a number of minutes greater than 0')
      const pruned = await (await tokens({ expiration })).prune({ hours, context: AUDIT_CONTEXT })
      if (expiration === null) {
        io.stderr.write(
          'Warning: Expiration value for personal access tokens was not set. Only tokens past their own ' +
            'expires_at were pruned; pass --expiration <minutes> if the app sets a lifetime.\n',
        )
      }
      await output(
        io,
        `Pruned ${pruned} ${plural(pruned, 'token')} expired for more than ${hours} ${plural(hours, 'hour')}.\n`,
      )
      return OK
    },
  },
  list: {
    summary: "Show an owner's tokens (never a secret or hash)",
    usage: 'list --owner <id> [--owner-type user] [--json]',
    about:
      "Shows the owner's tokens, newest first: id, name, abilities, last use, expiry and creation, as a table or,\n" +
      "with --json, as a JSON array. EXPIRES is the token's own expires_at; an app's expiration also applies.",
    options: {
      owner: OWNER,
      'owner-type': OWNER_TYPE,
      json: { type: 'boolean', help: 'Print a JSON array instead of a table' },
    },
    async run(options, { io, tokens }) {
      const owner = options.owner()
      const list = await (await tokens()).list(owner)
      if (options.flag('json')) await output(io, `${JSON.stringify(list, null, 2)}\n`)
      else if (list.length === 0) await output(io, `${owner.type} ${owner.id} has no tokens.\n`)
      else await output(io, table(list))
      return OK
    },
  },
  create: {
    summary: 'Issue a token and print its plain text, once',
    usage:
      'create --owner <id> --name <name> --abilities <a,b>\n[--owner-type user] [--expires-at <date>] [--prefix <p>]',
    about:
      'Issues a token and prints its plain text on stdout, alone, so it can be piped; it is shown this once and\n' +
      'cannot be recovered (only its hash is stored). What was made is said on stderr. Abilities are free-form\n' +
      'names, comma-separated; * grants every ability.',
    options: {
      owner: OWNER,
      'owner-type': OWNER_TYPE,
      name: {
        type: 'string',
        value: '<name>',
        help: 'A name for the token, up to 255 characters (required)',
      },
      abilities: { type: 'string', value: '<a,b>', help: 'Its abilities, e.g. read,update or * (required)' },
      'expires-at': {
        type: 'string',
        value: '<date>',
        help: 'When it stops working: 2030-01-31 (UTC) or 2030-01-31T12:00:00Z',
      },
      prefix: {
        type: 'string',
        value: '<prefix>',
        help: "The app's token prefix (Sanctum's token_prefix), if any",
      },
    },
    async run(options, { io, tokens }) {
      const owner = options.owner()
      const name = options.required('name')
      const abilities = options
        .required('abilities')
        .split(',')
        .map((ability) => ability.trim())
      const at = options.string('expires-at')
      const expiresAt = at === undefined ? null : isoDate(at)
      const prefix = options.string('prefix')
      const service = await tokens({ hashed: true, ...(prefix !== undefined && { prefix }) })
      const { token, plainTextToken } = await service.create(owner, name, abilities, {
        expiresAt,
        context: AUDIT_CONTEXT,
      })
      try {
        await output(io, `${plainTextToken}\n`)
      } catch (error) {
        // Nobody has the plain text, and nobody can recover it: a token that works for no one must not stay.
        const revoked = await service.revoke(owner, token.id, { context: AUDIT_CONTEXT }).catch(() => false)
        throw new CliError(
          `${firstLine(error)}; nobody has token ${token.id}'s plain text, so ` +
            (revoked
              ? 'it was revoked'
              : `revoke it: ${PROGRAM} revoke --owner-type ${owner.type} --owner ${owner.id} --id ${token.id}`),
          FAILED,
        )
      }
      io.stderr.write(
        `Created token ${token.id} "${token.name}" for ${owner.type} ${owner.id}, abilities ` +
          `${token.abilities.join(',')}, ${token.expiresAt ? `expires ${shortDate(token.expiresAt)}` : 'no expiry of its own'}. ` +
          'Its plain text above is shown this once.\n',
      )
      return OK
    },
  },
  revoke: {
    summary: "Delete one of an owner's tokens",
    usage: 'revoke --owner <id> --id <token id> [--owner-type user]',
    about: "Deletes the owner's token with this id. Fails (exit 1) when the owner has no such token.",
    options: {
      owner: OWNER,
      'owner-type': OWNER_TYPE,
      id: { type: 'string', value: '<token id>', help: 'The id of the token, as `list` shows it (required)' },
    },
    async run(options, { io, tokens }) {
      const owner = options.owner()
      const id = options.required('id')
      // A plain text or its secret pasted here by mistake is not repeated: stderr ends up in cron mail and journals.
      const given = mayBeSecret(id)
        ? 'the value given (not repeated: it may be a secret)'
        : `'${printable(id)}'`
      // `01` or `1.5` is no token's id: a bad value, not a token that is missing.
      if (!isTokenId(id)) throw usage(`--id must be a token id as list shows it, not ${given}`)
      if (!(await (await tokens()).revoke(owner, id, { context: AUDIT_CONTEXT }))) {
        throw new CliError(`${owner.type} ${owner.id} has no token ${given}`, FAILED)
      }
      await output(io, `Revoked token ${id} of ${owner.type} ${owner.id}.\n`)
      return OK
    },
  },
}

const HELP: OptionSpec & { short: string } = { type: 'boolean', short: 'h', help: 'Show this help' }

// A plain text (`7|…`) or a secret (40 characters and an 8-character checksum, a prefix before them): longer than
// any id `list` shows but the longest text ids, which are then not repeated either.
function mayBeSecret(value: string): boolean {
  return value.includes('|') || value.length > 40
}

/** A command's options as given: each name once, its last value. */
class Options {
  readonly #command: string
  readonly #values: ReadonlyMap<string, string | true>

  constructor(command: string, values: ReadonlyMap<string, string | true>) {
    this.#command = command
    this.#values = values
  }

  string(name: string): string | undefined {
    const value = this.#values.get(name)
    return typeof value === 'string' ? value : undefined
  }

  flag(name: string): boolean {
    return this.#values.get(name) === true
  }

  required(name: string): string {
    const value = this.string(name)
    if (value === undefined) throw usage(`--${name} is required (see ${PROGRAM} ${this.#command} --help)`)
    return value
  }

  owner(): TokenOwner {
    const id = this.required('owner')
    // ' 77' would be another owner than 77, whose tokens the app never shows.
    if (id.trim() !== id) throw usage(`--owner must be an owner id without spaces around it`)
    return { type: this.string('owner-type') ?? 'user', id }
  }
}

type Parsed = { readonly help: string } | { readonly command: Command; readonly options: Options }

function parse(argv: readonly string[]): Parsed {
  const [first, ...rest] = argv
  if (first === undefined) throw usage(`a command is required: ${commandList()} (see ${PROGRAM} --help)`)
  if (first === '-h' || first === '--help') return { help: programHelp() }
  if (first === 'help') {
    const topic = rest[0]
    return { help: topic === undefined ? programHelp() : commandHelp(commandNamed(topic)) }
  }
  const command = commandNamed(first)
  const see = ` (see ${PROGRAM} ${first} --help)`
  // Not strict: parseArgs's own messages are paragraphs and would read `--hours -1` as a missing value. Each
  // token is checked below instead, with a one-line message.
  const { tokens } = parseArgs({
    args: rest,
    options: { ...command.options, help: HELP },
    strict: false,
    allowPositionals: true,
    tokens: true,
  })
  // Every option is long but help's `-h`: a single dash before more letters (`-hours`) is no cluster of short
  // options, one of which would be help, but a mistyped option.
  const arg = (token: (typeof tokens)[number]) => rest[token.index] ?? ''
  const typo = tokens.find(
    (token) => token.kind === 'option' && !arg(token).startsWith('--') && arg(token) !== '-h',
  )
  if (typo) throw usage(`unknown option '${arg(typo)}' for ${first}${see}`)
  if (tokens.some((token) => token.kind === 'option' && token.name === 'help')) {
    return { help: commandHelp(command) }
  }
  const values = new Map<string, string | true>()
  for (const token of tokens) {
    if (token.kind === 'positional') throw usage(`unexpected argument '${token.value}'${see}`)
    if (token.kind !== 'option') continue
    const spec = Object.hasOwn(command.options, token.name) ? command.options[token.name] : undefined
    if (spec === undefined) throw usage(`unknown option '${token.rawName}' for ${first}${see}`)
    // `--id 5 --id 6` would act on one of them, silently.
    if (values.has(token.name)) throw usage(`${token.rawName} is given twice${see}`)
    if (spec.type === 'boolean') {
      if (token.value !== undefined) throw usage(`${token.rawName} takes no value${see}`)
      values.set(token.name, true)
    } else {
      // `--owner --json` would take `--json` as the owner; a negative number is a value (and refused later).
      if (token.value === undefined || (!token.inlineValue && /^-(?![\d.])/.test(token.value))) {
        throw usage(`${token.rawName} needs a value${see}`)
      }
      values.set(token.name, token.value)
    }
  }
  return { command, options: new Options(first, values) }
}

function commandNamed(name: string): Command {
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (command) return command
  if (name.startsWith('-')) throw usage(`the command comes first, before '${name}' (see ${PROGRAM} --help)`)
  throw usage(`unknown command '${name}'; the commands are ${commandList()} (see ${PROGRAM} --help)`)
}

function commandList(): string {
  const names = Object.keys(commands)
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`
}

// The environment variable that gives the command the app's `hashKey`.
const HASH_KEY = 'JETSTREAM_TOKENS_HASH_KEY'

function programHelp(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length)) + 2
  const lines = Object.entries(commands).map(([name, command]) => `  ${name.padEnd(width)}${command.summary}`)
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Manages the personal access tokens of @jetstream/tokens in the personal_access_tokens table of the',
    'PostgreSQL database at DATABASE_URL (e.g. postgres://app:secret@db:5432/app; add',
    '?options=-c%20search_path%3Dmyschema for another schema). The table must exist: see migrate(db).',
    `If the app hashes with a hashKey, set ${HASH_KEY} to it, or the tokens create makes will not work.`,
    '',
    'Commands:',
    ...lines,
    '',
    'Options:',
    `  -h, --help  Show this help; \`${PROGRAM} <command> --help\` shows a command's`,
    '',
    'Exit codes: 0 done, 1 failed (the database, no such token), 2 a bad command line or value.',
    '',
  ].join('\n')
}

function commandHelp(command: Command): string {
  const rows = Object.entries(command.options).map(([option, spec]): [string, string] => [
    `--${option}${spec.value ? ` ${spec.value}` : ''}`,
    spec.help,
  ])
  rows.push(['-h, --help', HELP.help])
  const width = Math.max(...rows.map(([left]) => left.length)) + 2
  return [
    // A usage of two lines continues under the command's name.
    `Usage: ${PROGRAM} ${command.usage.replace('\n', `\n${' '.repeat(`Usage: ${PROGRAM} `.length)}`)}`,
    '',
    command.about,
    '',
    'Options:',
    ...rows.map(([left, help]) => `  ${left.padEnd(width)}${help}`),
    '',
  ].join('\n')
}

// A plain decimal: Number() alone would take '', ' 1', '0x10' and '1e3'.
const DECIMAL = /^\d+(?:\.\d+)?$/

function decimal(text: string, accept: (value: number) => boolean, message: string): number {
  const value = Number(text)
  if (!DECIMAL.test(text) || !accept(value)) throw usage(message)
  return value
}

// A day (read as UTC midnight) or an instant with its offset, as the token routes read one.
function isoDate(text: string): Date {
  const date = parseIsoDate(text)
  if (!date) throw usage('--expires-at must be a date such as 2030-01-31 or 2030-01-31T12:00:00Z')
  return date
}

function table(list: readonly PersonalAccessToken[]): string {
  const rows = [
    ['ID', 'NAME', 'ABILITIES', 'LAST USED', 'EXPIRES', 'CREATED'],
    ...list.map((token) => [
      token.id,
      printable(token.name),
      printable(token.abilities.join(',')),
      token.lastUsedAt ? shortDate(token.lastUsedAt) : 'never',
      token.expiresAt ? shortDate(token.expiresAt) : 'never',
      shortDate(token.createdAt),
    ]),
  ]
  const widths = (rows[0] as string[]).map((_, column) => Math.max(...rows.map((row) => length(row[column]))))
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell + ' '.repeat((widths[column] as number) - length(cell)))
        .join('  ')
        .trimEnd(),
    )
    .map((line) => `${line}\n`)
    .join('')
}

function length(text: string | undefined): number {
  return [...(text ?? '')].length
}

function shortDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

function plural(count: number, word: string): string {
  return count === 1 ? word : `${word}s`
}

// A name written by another app may hold escape sequences; a terminal must show them, not obey them.
function printable(text: string): string {
  return text.replace(
    /\p{Cc}/gu,
    (char) => `\\x${(char.codePointAt(0) as number).toString(16).padStart(2, '0')}`,
  )
}

// A SQLSTATE: two characters of class, three of condition (a Node error code such as EPIPE is not one).
const SQLSTATE = /^(?:[0-9][0-9A-Z]|F0|HV|P0|XX)[0-9A-Z]{3}$/
// Classes that mean the session never started: connection exceptions, authentication, unknown database, shutdown.
const NOT_CONNECTED = /^(?:08|28|3D|57P)/

function explain(error: unknown): [message: string, exitCode: number] {
  if (error instanceof CliError) return [error.message, error.exitCode]
  if (isTokenError(error)) {
    // The core refused a value from the command line (a name too long, a past expiry, a bad prefix).
    if (error.code === 'invalid_input' || error.code === 'misconfigured') return [error.message, USAGE]
    if (error.code === 'storage_unavailable') return [storageProblem(error), FAILED]
  }
  return [firstLine(error), FAILED]
}

function storageProblem(error: TokenError): string {
  const cause = error.cause as { message?: string; code?: string } | undefined
  // The deadline's own error, which has no cause, says what did not answer.
  if (!cause) return error.message
  const code = cause.code ?? ''
  if (code === '42P01') {
    return 'the table personal_access_tokens does not exist in the search_path of DATABASE_URL; create it with migrate(db) or the SQL files in @jetstream/drizzle/migrations'
  }
  if (code === '42703') {
    return `the table personal_access_tokens lacks a column (${firstLine(cause)}): the command line works on the table migrate(db) makes, and a Laravel table has no metadata column`
  }
  if (SQLSTATE.test(code) && !NOT_CONNECTED.test(code)) return `the database refused: ${firstLine(cause)}`
  return `cannot reach the database: ${firstLine(cause)}`
}

function firstLine(error: unknown): string {
  const { message, code, errors } = (error ?? {}) as { message?: unknown; code?: unknown; errors?: unknown }
  // Node reports a host with several addresses as an AggregateError with an empty message.
  if (Array.isArray(errors) && errors.length > 0 && !message) return firstLine(errors[0])
  const text = typeof message === 'string' && message !== '' ? message : String(code ?? error)
  return text.split('\n')[0] as string
}

// Drivers put hosts and ports in their messages; make sure a password (or the hash key) never follows them.
function redact(message: string, env: CliIo['env']): string {
  const password = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@]*:([^@/?#]*)@/i.exec(env.DATABASE_URL ?? '')?.[1]
  const secrets = [password, password && safeDecode(password), env.PGPASSWORD, env[HASH_KEY]].filter(
    (secret): secret is string => typeof secret === 'string' && secret !== '',
  )
  return secrets.reduce((text, secret) => text.split(secret).join('***'), message)
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    return text
  }
}

interface Connection {
  readonly db: AnyPgDatabase
  close(): Promise<void>
}

/**
 * The connection to `DATABASE_URL`, opened on first use, and the one token service on it, keeping the audit trail
 * where the database has its table (`migrate(db)` makes it; drizzle-kit users may not have it).
 */
class Database {
  readonly #io: CliIo
  #connection: Promise<Connection> | null = null
  #audit: DrizzleAuditLog | null = null

  constructor(io: CliIo) {
    this.#io = io
  }

  async tokens(settings: ServiceSettings = {}): Promise<TokenService> {
    const url = this.#io.env.DATABASE_URL
    if (!url)
      throw usage('DATABASE_URL is not set; set it to the database, e.g. postgres://app:secret@db:5432/app')
    if (!/^postgres(?:ql)?:\/\//.test(url))
      throw usage('DATABASE_URL must be a postgres:// or postgresql:// URL')
    this.#connection ??= connect(url)
    const { db } = await this.#connection
    this.#audit ??= await this.#auditLog(db)
    const { hashed, ...rest } = settings
    // The app's key, from the environment as a secret should come (an argument shows in `ps`): without it, a
    // token made here would be hashed as plain sha256, which an app with a `hashKey` refuses.
    const hashKey = hashed ? this.#io.env[HASH_KEY] : undefined
    const store = drizzleStore(db, { timeout: STATEMENT_TIMEOUT })
    if (hashKey) {
      // Judged on its own by the core's rule, so that only a bad key is blamed on the variable.
      try {
        createTokens({ store, lastUsed: false, hashKey })
      } catch (error) {
        if (isTokenError(error) && error.code === 'misconfigured') {
          throw usage(`${HASH_KEY} must be the app's hashKey: ${error.message}`)
        }
        throw error
      }
    }
    // No last-used tracking or cache: the command line authenticates nothing.
    return createTokens({
      store,
      lastUsed: false,
      ...(this.#audit && { audit: this.#audit }),
      ...(hashKey && { hashKey }),
      ...rest,
    })
  }

  async close(): Promise<void> {
    // The events first (one insert), while the connection is open.
    await this.#audit?.close()
    const connection = await this.#connection?.catch(() => null)
    // The command has done its work or failed already; a connection that fails to close changes neither.
    if (connection) await closeWithin(connection.close)
  }

  async #auditLog(db: AnyPgDatabase): Promise<DrizzleAuditLog | null> {
    // A failed or stalled check leaves the trail off; the command's own statement reports what is wrong.
    const found = await orAfter(
      db.execute(sql`select to_regclass('token_audit_log') is not null as found`).catch(() => []),
      CONNECT_TIMEOUT * 1000,
      [],
    )
    const rows = (Array.isArray(found) ? found : (found as { rows: unknown[] }).rows) as { found: boolean }[]
    if (rows[0]?.found !== true) return null
    return drizzleAuditLog(db, {
      // A few events, one insert: the seconds a connection gets to answer, not a prune's minute.
      timeout: CONNECT_TIMEOUT * 1000,
      // The command's own work is done; a trail that could not be written is a warning, not its failure.
      onError: (error) =>
        this.#io.stderr.write(`${PROGRAM}: warning: ${redact(printable(error.message), this.#io.env)}\n`),
    })
  }
}

// postgres.js if installed, else node-postgres: @jetstream/drizzle depends on neither (both are optional peers).
async function connect(url: string): Promise<Connection> {
  const postgresJs = await installed(() => import('postgres'))
  if (postgresJs) {
    const { drizzle } = await import('drizzle-orm/postgres-js')
    const client = construct(() =>
      postgresJs.default(url, {
        max: 1,
        connect_timeout: CONNECT_TIMEOUT,
        // Notices (say, from a trigger) are not the command's output.
        onnotice: () => {},
        // No command sends or reads an array through the driver, and postgres.js leaves a failed fetch of the
        // server's array types unhandled (porsager/postgres#1192): a connection lost then would end the process
        // without the command's own message.
        fetch_types: false,
        connection: { statement_timeout: STATEMENT_TIMEOUT },
      }),
    )
    return opened(
      drizzle(client),
      () => client`select 1`,
      () => client.end({ timeout: 1 }),
    )
  }
  const nodePostgres = await installed(() => import('pg'))
  if (nodePostgres) {
    const { drizzle } = await import('drizzle-orm/node-postgres')
    const pool = construct(
      () =>
        new nodePostgres.default.Pool({
          connectionString: url,
          max: 1,
          connectionTimeoutMillis: CONNECT_TIMEOUT * 1000,
          statement_timeout: STATEMENT_TIMEOUT,
        }),
    )
    // An idle connection the server dropped: the next statement reports it; unhandled, it would crash the process.
    pool.on('error', () => {})
    return opened(
      drizzle(pool),
      () => pool.query('select 1'),
      () => pool.end(),
    )
  }
  throw new CliError(
    'no PostgreSQL driver found: install postgres (postgres.js) or pg next to @jetstream/drizzle',
    FAILED,
  )
}

// postgres.js does not fail a waiting statement when its connection attempt times out or the server hangs up
// during the handshake: it tries again for as long as the statement waits. So one `select 1` goes first under the
// connect deadline, and an unreachable server is reported in seconds; the commands then have STATEMENT_TIMEOUT.
async function opened(
  db: AnyPgDatabase,
  probe: () => PromiseLike<unknown>,
  close: () => Promise<void>,
): Promise<Connection> {
  try {
    const answered = await orAfter(
      Promise.resolve(probe()).then(() => true),
      CONNECT_TIMEOUT * 1000,
      false,
    )
    if (!answered) throw new Error(`no answer within ${CONNECT_TIMEOUT} s`)
    return { db, close }
  } catch (error) {
    await closeWithin(close)
    const reason = firstLine(error)
    // PgBouncer refuses a startup parameter it does not follow; the server's own deadline is worth keeping (a
    // DELETE past it stops rather than carry on after the command reported failure), so say what to change.
    const pooler = /unsupported startup parameter/.test(reason)
      ? ": a pooler refused the statement_timeout the command line sets; give DATABASE_URL a direct connection to PostgreSQL, or add statement_timeout to PgBouncer's ignore_startup_parameters"
      : ''
    throw new CliError(`cannot reach the database: ${reason}${pooler}`, FAILED)
  }
}

// Closes, or gives up after CLOSE_TIMEOUT; never rejects.
function closeWithin(close: () => Promise<void>): Promise<void> {
  return orAfter(
    close().catch(() => {}),
    CLOSE_TIMEOUT,
    undefined,
  )
}

// What `pending` resolves to, or `fallback` once `ms` have passed: a connection that stalls (a network cut) must
// not keep the command waiting where nothing else bounds it.
async function orAfter<T>(pending: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const given = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms)
  })
  try {
    return await Promise.race([pending, given])
  } finally {
    clearTimeout(timer)
  }
}

// Resolves once the text is written; rejects when it cannot be (ENOSPC, EPIPE), where a bare `write` would leave
// the error to the stream and the command would report success.
function output(io: CliIo, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    io.stdout.write(text, (error) =>
      error ? reject(new CliError(`cannot write the output: ${firstLine(error)}`, FAILED)) : resolve(),
    )
  })
}

async function installed<T>(load: () => Promise<T>): Promise<T | null> {
  try {
    return await load()
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'ERR_MODULE_NOT_FOUND') return null
    throw error
  }
}

function construct<T>(make: () => T): T {
  try {
    return make()
  } catch (error) {
    throw usage(`DATABASE_URL is not a valid connection URL: ${firstLine(error)}`)
  }
}
