import { request as httpRequest } from 'node:http'
import { gzipSync } from 'node:zlib'
import type { TokenStore } from '@jetstream/tokens'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSetup, type Permission, type ScenarioSetup } from './fixture.js'
import type { RunningApp, StartApp } from './scenarios.js'

/** A request of the table: what is sent, built once the app runs (it may issue the tokens it needs). */
interface Sent {
  readonly method: string
  readonly path: string
  readonly headers?: Readonly<Record<string, string>>
  readonly body?: string | Uint8Array | ReadableStream<Uint8Array>
}

/**
 * The one answer a row must get from every adapter: status, the body's `code` (null for a success or no body),
 * and the headers the core builds, each exactly (null: absent).
 */
interface Expected {
  readonly status: number
  readonly code: string | null
  /** undefined: not the core's to say (the 204's). */
  readonly contentType?: string | null | undefined
  readonly challenge?: string | null
  readonly allow?: string | null
  /** `Cache-Control`, compared where a row names it (the token routes' `no-store`). */
  readonly cacheControl?: string | null
  /** `Retry-After`, `RateLimit` and `RateLimit-Policy` (a matcher where the seconds left may vary). */
  readonly retryAfter?: unknown
  readonly rateLimit?: unknown
  readonly rateLimitPolicy?: unknown
}

type Build = (kit: Kit) => Promise<Sent>

interface Kit {
  readonly origin: string
  /** A token of user 1 holding `abilities`, as plain text; `expiresIn` in ms from now. */
  bearer(abilities: Permission[], expiresIn?: number): Promise<string>
  /** The id of a fresh token of user 1, to change or delete. */
  target(): Promise<string>
  readonly setup: ScenarioSetup
}

const JSON_TYPE = 'application/json'
const tokens = '/user/api-tokens'
const bearerTokens = '/bearer/api-tokens'
/** The token routes behind the framework's own body parsers (express.json() and urlencoded(), @koa/bodyparser). */
const parsedTokens = '/parsed/api-tokens'
const all: Permission[] = ['create', 'read', 'update', 'delete']
const invalidToken =
  'Bearer realm="api", error="invalid_token", error_description="The access token is invalid or expired."'

// An empty answer (204) has no type of the core's; Hono's Node server gives every answer a type (text/plain), and
// an adapter cannot take it off.
const ok = (status: number): Expected => ({
  status,
  code: null,
  contentType: status === 204 ? undefined : JSON_TYPE,
})
/** Every header an answer may carry: the core's, and those of the connection (HTTP/1.1's own). */
const ANSWER_HEADERS = new Set([
  'content-type',
  'content-length',
  'cache-control',
  'www-authenticate',
  'allow',
  'retry-after',
  'ratelimit',
  'ratelimit-policy',
  'date',
  'connection',
  'keep-alive',
])
const refused = (status: number, code: string, extra: Partial<Expected> = {}): Expected => ({
  status,
  code,
  contentType: JSON_TYPE,
  challenge: null,
  allow: null,
  ...extra,
})
const scope = (abilities: string) => `Bearer realm="api", error="insufficient_scope", scope="${abilities}"`

const json = (value: unknown) => JSON.stringify(value)
/** One allowed request to `/limited/me` (or `/shared/me`), spending one of the allowance a row then exceeds. */
const spend = async (kit: Kit, headers: Record<string, string>, group: string) => {
  const response = await fetch(`${kit.origin}/${group}/me`, { headers })
  await response.arrayBuffer()
  expect(response.status).toBe(200)
}
const session = (kit: Kit, headers: Record<string, string> = {}) => ({
  cookie: 'session=1',
  origin: kit.origin,
  ...headers,
})
const sessionJson = (kit: Kit, headers: Record<string, string> = {}) =>
  session(kit, { 'content-type': 'application/json', ...headers })
/** A session's create (POST to the list) with these extra headers and this body, made when the row runs. */
const createWith =
  (extra: Record<string, string>, body?: Sent['body'] | (() => Sent['body'])): Build =>
  async (kit) => {
    const made = typeof body === 'function' ? body() : body
    return {
      method: 'POST',
      path: tokens,
      headers: sessionJson(kit, extra),
      ...(made !== undefined && { body: made }),
    }
  }

/** The four management actions, on a mount, as a session or a bearer request. */
function actions(prefix: string, auth: (kit: Kit) => Promise<Record<string, string>>): [string, Build][] {
  const withJson = async (kit: Kit) => ({ ...(await auth(kit)), 'content-type': 'application/json' })
  return [
    ['GET (list)', async (kit) => ({ method: 'GET', path: prefix, headers: await auth(kit) })],
    [
      'POST (create)',
      async (kit) => ({
        method: 'POST',
        path: prefix,
        headers: await withJson(kit),
        body: json({ name: 'row' }),
      }),
    ],
    [
      'PUT (update)',
      async (kit) => ({
        method: 'PUT',
        path: `${prefix}/${await kit.target()}`,
        headers: await withJson(kit),
        body: json({ permissions: ['read'] }),
      }),
    ],
    [
      'DELETE',
      async (kit) => ({
        method: 'DELETE',
        path: `${prefix}/${await kit.target()}`,
        headers: await auth(kit),
      }),
    ],
  ]
}

const bearerWith = (abilities: Permission[]) => async (kit: Kit) => ({
  authorization: `Bearer ${await kit.bearer(abilities)}`,
})
const sessionOf = async (kit: Kit) => session(kit)
const successes = [ok(200), ok(201), ok(200), ok(204)]

/** The 429s of a route group's own limits (`/limited` or `/shared`): a token's, a session user's, an ability's. */
function limitRows(group: 'limited' | 'shared', counted: string): [string, Build, Expected][] {
  const past = (policy: string, quota: number): Expected =>
    refused(429, 'too_many_requests', {
      retryAfter: expect.stringMatching(/^(?:5\d|60)$/),
      rateLimit: expect.stringMatching(new RegExp(`^"${policy}";r=0;t=(?:5\\d|60)$`)),
      rateLimitPolicy: `"${policy}";q=${quota};w=60`,
    })
  return [
    [
      `a token past its rate limit${counted} → 429 with Retry-After, RateLimit and RateLimit-Policy`,
      async (kit) => {
        const token = await kit.bearer(['read'])
        for (let i = 0; i < 2; i++) await spend(kit, { authorization: `Bearer ${token}` }, group)
        return { method: 'GET', path: `/${group}/me`, headers: { authorization: `Bearer ${token}` } }
      },
      past('token', 2),
    ],
    [
      `a session user past the rate limit${counted} → 429 in the session policy`,
      async (kit) => {
        for (let i = 0; i < 2; i++) await spend(kit, { cookie: 'session=2' }, group)
        return { method: 'GET', path: `/${group}/me`, headers: { cookie: 'session=2' } }
      },
      past('session', 2),
    ],
    [
      `a token past an ability’s own limit${counted} → 429 in that ability’s policy`,
      async (kit) => {
        const token = await kit.bearer(['read', 'create'])
        const first = await fetch(`${kit.origin}/${group}/posts`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        })
        await first.arrayBuffer()
        expect(first.status).toBe(201)
        return { method: 'POST', path: `/${group}/posts`, headers: { authorization: `Bearer ${token}` } }
      },
      past('ability:create', 1),
    ],
  ]
}

const rows: [string, Build, Expected][] = [
  // First-party management: a bearer token is refused on the default mount, whatever it holds.
  ...(['none', 'some', 'all'] as const).flatMap((held) =>
    actions(tokens, bearerWith(held === 'none' ? [] : held === 'some' ? ['read'] : all)).map(
      ([action, build]): [string, Build, Expected] => [
        `${action}, bearer token holding ${held} abilities → 403 session_required`,
        build,
        refused(403, 'session_required', { cacheControl: 'no-store' }),
      ],
    ),
  ),
  // Nothing the token routes answer may be kept by a cache: one user's tokens, once a plain text.
  ...actions(tokens, sessionOf).map(([action, build], i): [string, Build, Expected] => [
    `${action}, session → ${successes[i]?.status}, not to be stored`,
    build,
    { ...(successes[i] as Expected), cacheControl: 'no-store' },
  ]),
  // The opt-in mount (bearerAbility 'create'): the ability decides.
  ...actions(bearerTokens, bearerWith([])).map(([action, build]): [string, Build, Expected] => [
    `opted in: ${action}, bearer token holding no abilities → 403 naming create`,
    build,
    refused(403, 'missing_abilities', { challenge: scope('create') }),
  ]),
  ...actions(bearerTokens, bearerWith(['read'])).map(([action, build]): [string, Build, Expected] => [
    `opted in: ${action}, bearer token holding read → 403 naming create`,
    build,
    refused(403, 'missing_abilities', { challenge: scope('create') }),
  ]),
  ...actions(bearerTokens, bearerWith(all)).map(([action, build], i): [string, Build, Expected] => [
    `opted in: ${action}, bearer token holding all → ${successes[i]?.status}`,
    build,
    successes[i] as Expected,
  ]),
  [
    'opted in: a token cannot grant an ability it lacks',
    async (kit) => ({
      method: 'POST',
      path: bearerTokens,
      headers: {
        authorization: `Bearer ${await kit.bearer(['create'])}`,
        'content-type': 'application/json',
      },
      body: json({ name: 'wider', permissions: ['delete'] }),
    }),
    refused(403, 'missing_abilities', { challenge: scope('delete') }),
  ],
  [
    'guest → 401',
    async () => ({ method: 'GET', path: tokens }),
    refused(401, 'unauthenticated', { challenge: 'Bearer realm="api"' }),
  ],
  [
    'refused token → 401 invalid_token',
    async () => ({ method: 'GET', path: tokens, headers: { authorization: 'Bearer 1|nope' } }),
    refused(401, 'unauthenticated', { challenge: invalidToken }),
  ],
  // Authorization headers as clients get them wrong: not a bearer token at all (a guest), or a bearer token no
  // store could hold (refused without a lookup).
  ...(
    [
      ['a tab after the scheme', 'Bearer\t1|abc'],
      ['Basic credentials', 'Basic dXNlcjpwYXNz'],
      ['an empty Authorization', ''],
    ] as const
  ).map(([what, authorization]): [string, Build, Expected] => [
    `${what} → 401 as a guest`,
    async () => ({ method: 'GET', path: '/me', headers: { authorization } }),
    refused(401, 'unauthenticated', { challenge: 'Bearer realm="api"' }),
  ]),
  ...(
    [
      ['latin-1 characters in the token', 'Bearer 1|\u00f1\u00f1'],
      ['an 8 kB token', `Bearer 1|${'a'.repeat(8_000)}`],
      ['the scheme and no token', 'Bearer'],
      ['two tokens in one header', 'Bearer 1|abc, Bearer 2|def'],
    ] as const
  ).map(([what, authorization]): [string, Build, Expected] => [
    `${what} → 401 invalid_token`,
    async () => ({ method: 'GET', path: '/me', headers: { authorization } }),
    refused(401, 'unauthenticated', { challenge: invalidToken }),
  ]),
  // Bodies: size, media type, charset, encoding, shape.
  [
    'a 64 MB body → 413',
    createWith({}, () => new Uint8Array(64 * 1024 * 1024).fill(32)),
    refused(413, 'payload_too_large'),
  ],
  ['a 101 kB body → 413', createWith({}, bigName(101 * 1024)), refused(413, 'payload_too_large')],
  [
    'a 101 kB body sent in chunks, without a length → 413',
    createWith({}, () => chunked(bigName(101 * 1024))),
    refused(413, 'payload_too_large'),
  ],
  [
    'a body just under the limit is read',
    createWith({}, bigName(100 * 1024 - 1)),
    refused(422, 'invalid_input'),
  ],
  ...(
    [
      ['application/json; charset=latin1', 415],
      ['application/json; charset=bogus', 415],
      ['application/json; charset="iso-8859-1"', 415],
      ['text/plain', 415],
      ['application/x-www-form-urlencoded', 415],
      ['application/jsonp', 415],
      ['application/json; charset=UTF-8', 201],
      ['application/json;charset="utf-8"', 201],
      ['Application/JSON', 201],
    ] as const
  ).map(([type, status]): [string, Build, Expected] => [
    `Content-Type ${type} → ${status}`,
    createWith({ 'content-type': type }, json({ name: 'x' })),
    status === 201 ? ok(201) : refused(415, 'unsupported_media_type'),
  ]),
  ...(['gzip', 'br', 'bogus'] as const).map((encoding): [string, Build, Expected] => [
    `Content-Encoding ${encoding} → 415`,
    createWith({ 'content-encoding': encoding }, json({ name: 'x' })),
    refused(415, 'unsupported_media_type'),
  ]),
  // What the app's own body parser read is held to the same rules: a form it parsed, a body it inflated, a media
  // type it passed over (koa-bodyparser then leaves `{}`, which would change nothing with a 200).
  ...(
    [
      ['a form', 'application/x-www-form-urlencoded', 'name=x', 415],
      ['text/plain', 'text/plain', json({ name: 'x' }), 415],
      ['JSON', 'application/json', json({ name: 'x' }), 201],
    ] as const
  ).map(([what, type, body, status]): [string, Build, Expected] => [
    `behind the app's body parser: ${what} → ${status}`,
    async (kit) => ({
      method: 'POST',
      path: parsedTokens,
      headers: session(kit, { 'content-type': type }),
      body,
    }),
    status === 201 ? ok(201) : refused(415, 'unsupported_media_type'),
  ]),
  [
    "behind the app's body parser: gzipped JSON → 415",
    async (kit) => ({
      method: 'POST',
      path: parsedTokens,
      headers: session(kit, { 'content-type': JSON_TYPE, 'content-encoding': 'gzip' }),
      body: new Uint8Array(gzipSync(json({ name: 'x' }))),
    }),
    refused(415, 'unsupported_media_type'),
  ],
  [
    "behind the app's body parser: a text/plain PUT → 415, not a 200 that changes nothing",
    async (kit) => ({
      method: 'PUT',
      path: `${parsedTokens}/${await kit.target()}`,
      headers: session(kit, { 'content-type': 'text/plain' }),
      body: json({ permissions: [] }),
    }),
    refused(415, 'unsupported_media_type'),
  ],
  [
    'an expiry in the year 10000 → 422, on every store',
    createWith({}, json({ name: 'far', expiresAt: Date.UTC(10_000, 0, 1) })),
    refused(422, 'invalid_input'),
  ],
  [
    'an expiry without its offset → 422, whatever the server’s time zone',
    createWith({}, json({ name: 'local', expiresAt: '2030-01-31T12:00:00' })),
    refused(422, 'invalid_input'),
  ],
  [
    'an expiry at the end of the year 9999 → 201',
    createWith({}, json({ name: 'far', expiresAt: '9999-12-31T23:59:59.999Z' })),
    ok(201),
  ],
  [
    'an empty POST body → 422 (the name is missing)',
    async (kit) => ({ method: 'POST', path: tokens, headers: session(kit) }),
    refused(422, 'invalid_input'),
  ],
  [
    'an empty PUT body → 200 (nothing changes)',
    async (kit) => ({ method: 'PUT', path: `${tokens}/${await kit.target()}`, headers: session(kit) }),
    ok(200),
  ],
  ...(['null', '"CI"', '42', '[{"name":"CI"}]'] as const).map((body): [string, Build, Expected] => [
    `the JSON body ${body} → 400`,
    async (kit) => ({ method: 'POST', path: tokens, headers: sessionJson(kit), body }),
    refused(400, 'bad_request'),
  ]),
  [
    'malformed JSON → 400',
    async (kit) => ({ method: 'POST', path: tokens, headers: sessionJson(kit), body: '{"name": "oops",' }),
    refused(400, 'bad_request'),
  ],
  [
    'bytes that are not UTF-8 → 400',
    createWith({}, new Uint8Array([123, 34, 0xff, 34, 125])),
    refused(400, 'bad_request'),
  ],
  [
    '__proto__ keys are ignored → 201',
    async (kit) => ({
      method: 'POST',
      path: tokens,
      headers: sessionJson(kit),
      body: '{"__proto__": {"admin": true}, "constructor": {"x": 1}, "name": "proto"}',
    }),
    ok(201),
  ],
  // Ids in any form but the canonical one are no token.
  ...(['%ff', '%', '01', '-1', '1e3', '99999999999999999999', '1%2F2'] as const).flatMap((id) =>
    (['PUT', 'DELETE'] as const).map((method): [string, Build, Expected] => [
      `${method} ${tokens}/${id} → 404`,
      async (kit) => ({
        method,
        path: `${tokens}/${id}`,
        headers: sessionJson(kit),
        ...(method === 'PUT' && { body: json({ permissions: ['read'] }) }),
      }),
      refused(404, 'not_found'),
    ]),
  ),
  [
    `a path below a token → 404`,
    async (kit) => ({ method: 'GET', path: `${tokens}/1/extra`, headers: session(kit) }),
    refused(404, 'not_found'),
  ],
  // Sent as written (a client with `--path-as-is`): no framework may resolve the dot segments into a token's path.
  ...['..', '%2E%2e'].map((dots): [string, Build, Expected] => [
    `a token behind a \`${dots}\` segment, sent as is → 404, nothing deleted`,
    async (kit) => ({
      method: 'DELETE',
      path: `${tokens}/x/${dots}/${await kit.target()}`,
      headers: session(kit),
    }),
    refused(404, 'not_found'),
  ]),
  // The absolute form of a request target (RFC 9112 §3.2.2: what a client sends to a proxy, which every server
  // must accept) names the same routes.
  [
    'a token deleted through an absolute-form target → 204',
    async (kit) => ({
      method: 'DELETE',
      path: `${kit.origin}${tokens}/${await kit.target()}`,
      headers: session(kit),
    }),
    { ...ok(204), cacheControl: 'no-store' },
  ],
  // The realm of a challenge: the guard's (default `api`) for every refusal that comes of auth, a policy's
  // included; `errorHandler({ realm })`'s (the scenario apps give `app`) for a library error the app throws itself,
  // behind auth or not (below: where no auth runs).
  [
    'a policy asked about a guest, below optional auth → 401 in the guard’s realm',
    async () => ({ method: 'GET', path: '/maybe/authorize' }),
    refused(401, 'unauthenticated', { challenge: 'Bearer realm="api"' }),
  ],
  [
    'a library error the app throws below optional auth → 401 in errorHandler’s realm',
    async () => ({ method: 'GET', path: '/maybe/thrown/library' }),
    refused(401, 'unauthenticated', { challenge: 'Bearer realm="app"' }),
  ],
  // Methods and paths a client may send that no route names on its own: the list's, for HEAD and a trailing
  // slash; a 405 for OPTIONS (no CORS here: the routes are for the app's own pages) and for HEAD on a token.
  [
    'HEAD on the list → 200, no body',
    async (kit) => ({ method: 'HEAD', path: tokens, headers: session(kit) }),
    { ...ok(200), cacheControl: 'no-store' },
  ],
  [
    'GET on the list with a trailing slash → the list',
    async (kit) => ({ method: 'GET', path: `${tokens}/`, headers: session(kit) }),
    { ...ok(200), cacheControl: 'no-store' },
  ],
  [
    'OPTIONS on the list → 405 with Allow',
    async (kit) => ({ method: 'OPTIONS', path: tokens, headers: session(kit) }),
    refused(405, 'method_not_allowed', { allow: 'GET, HEAD, POST', cacheControl: 'no-store' }),
  ],
  [
    'HEAD on a token → 405 with Allow, no body',
    async (kit) => ({ method: 'HEAD', path: `${tokens}/${await kit.target()}`, headers: session(kit) }),
    { ...refused(405, 'method_not_allowed', { allow: 'PUT, DELETE', cacheControl: 'no-store' }), code: null },
  ],
  [
    'a token id followed by a fragment, sent as is → 404, nothing deleted',
    async (kit) => ({ method: 'DELETE', path: `${tokens}/${await kit.target()}#x`, headers: session(kit) }),
    refused(404, 'not_found', { cacheControl: 'no-store' }),
  ],
  [
    'a token behind an empty segment → 404, nothing deleted',
    async (kit) => ({ method: 'DELETE', path: `${tokens}//${await kit.target()}`, headers: session(kit) }),
    refused(404, 'not_found', { cacheControl: 'no-store' }),
  ],
  [
    'PATCH on the list → 405 with Allow',
    async (kit) => ({ method: 'PATCH', path: tokens, headers: sessionJson(kit), body: '{}' }),
    refused(405, 'method_not_allowed', { allow: 'GET, HEAD, POST' }),
  ],
  [
    'GET on a token → 405 with Allow',
    async (kit) => ({ method: 'GET', path: `${tokens}/${await kit.target()}`, headers: session(kit) }),
    refused(405, 'method_not_allowed', { allow: 'PUT, DELETE' }),
  ],
  [
    'GET on a token’s rotate → 405 with Allow',
    async (kit) => ({ method: 'GET', path: `${tokens}/${await kit.target()}/rotate`, headers: session(kit) }),
    refused(405, 'method_not_allowed', { allow: 'POST' }),
  ],
  [
    'POST on a token’s events → 405 with Allow',
    async (kit) => ({
      method: 'POST',
      path: `${tokens}/${await kit.target()}/events`,
      headers: sessionJson(kit),
      body: '{}',
    }),
    refused(405, 'method_not_allowed', { allow: 'GET, HEAD' }),
  ],
  [
    'a token’s events → 200',
    async (kit) => ({ method: 'GET', path: `${tokens}/${await kit.target()}/events`, headers: session(kit) }),
    ok(200),
  ],
  [
    'rotate of an unknown token → 404',
    async (kit) => ({
      method: 'POST',
      path: `${tokens}/999999/rotate`,
      headers: sessionJson(kit),
      body: '{}',
    }),
    refused(404, 'not_found'),
  ],
  [
    'rotate with a grace that is not a number → 422',
    async (kit) => ({
      method: 'POST',
      path: `${tokens}/${await kit.target()}/rotate`,
      headers: sessionJson(kit),
      body: json({ grace: 'soon' }),
    }),
    refused(422, 'invalid_input'),
  ],
  [
    'a token with metadata over 4 kB → 422',
    async (kit) => ({
      method: 'POST',
      path: tokens,
      headers: sessionJson(kit),
      body: json({ name: 'big', metadata: { blob: 'x'.repeat(4_100) } }),
    }),
    refused(422, 'invalid_input'),
  ],
  // Rate limits, the route group's own (2 a minute per token or session user), counted in this process
  // (`limitedRoute`) and by a limiter that answers through a promise, as Redis does (`sharedLimitedRoute`).
  ...limitRows('limited', ''),
  ...limitRows('shared', ', counted through a promise'),
  // A library error thrown where no `auth` runs, answered by the framework's error handler (`errorHandler()`).
  [
    'a library error thrown outside auth → errorHandler answers it as auth would, in its own realm',
    async () => ({ method: 'GET', path: '/thrown/library' }),
    refused(401, 'unauthenticated', { challenge: 'Bearer realm="app"' }),
  ],
  [
    'an exposed 404 of the app (createError, ctx.throw) → errorHandler keeps its status',
    async () => ({ method: 'GET', path: '/thrown/client' }),
    refused(404, 'not_found'),
  ],
  [
    'an exposed 429 of the app with its Retry-After → errorHandler keeps both',
    async () => ({ method: 'GET', path: '/thrown/busy' }),
    refused(429, 'too_many_requests', { retryAfter: '30' }),
  ],
  [
    'the app’s own failure → errorHandler answers a bare 500',
    async () => ({ method: 'GET', path: '/thrown/bug' }),
    refused(500, 'server_error'),
  ],
  [
    'the app’s own failure behind auth → the same bare 500',
    async (kit) => ({
      method: 'GET',
      path: '/failing',
      headers: { authorization: `Bearer ${await kit.bearer(['read'])}` },
    }),
    refused(500, 'server_error'),
  ],
  // The realm is the guard's, in every answer about the request: 401s and later ability checks alike.
  [
    'realm set: a guest → 401 in that realm',
    async () => ({ method: 'GET', path: '/acme/me' }),
    refused(401, 'unauthenticated', { challenge: 'Bearer realm="acme"' }),
  ],
  [
    'realm set: a missing ability → 403 in that realm',
    async (kit) => ({
      method: 'GET',
      path: '/acme/me',
      headers: { authorization: `Bearer ${await kit.bearer(['read'])}` },
    }),
    refused(403, 'missing_abilities', {
      challenge: 'Bearer realm="acme", error="insufficient_scope", scope="delete"',
    }),
  ],
]

/**
 * The table of requests and the one answer each gets, run unchanged against an adapter's scenario app through
 * real HTTP. Every adapter runs it, on the memory store and on the drizzle store, so Hono, Koa and Express give
 * the same status, code and headers to the same request.
 */
export function answerTable(
  framework: string,
  start: StartApp,
  options: { readonly store?: () => Promise<{ store: TokenStore; close(): Promise<void> }> } = {},
): void {
  const variant = options.store ? 'on a real database' : 'on the memory store'
  describe(`${framework}: one answer to each request (${variant})`, () => {
    let app: RunningApp
    let kit: Kit
    let database: { store: TokenStore; close(): Promise<void> } | null = null
    beforeAll(async () => {
      database = options.store ? await options.store() : null
      const setup = createSetup(database?.store)
      // The table's tokens are issued now, on the real clock, so their expiries count in real time.
      setup.clock.now = Date.now()
      app = await start(setup)
      kit = {
        origin: new URL(app.url).origin,
        setup,
        bearer: async (abilities, expiresIn) =>
          (
            await setup.tokens.create('1', 'table', abilities, {
              ...(expiresIn !== undefined && { expiresAt: new Date(setup.clock.now + expiresIn) }),
            })
          ).plainTextToken,
        target: async () => (await setup.tokens.create('1', 'target', ['read'])).token.id,
      }
    }, 60_000)
    afterAll(async () => {
      await app?.close()
      await database?.close()
    }, 60_000)

    it.each(rows)('%s', async (_, build, expected) => {
      const sent = await build(kit)
      const response =
        DOT_SEGMENT.test(sent.path) || !sent.path.startsWith('/') || sent.path.includes('#')
          ? await sendAsIs(app.url, sent)
          : await fetch(`${app.url}${sent.path}`, {
              method: sent.method,
              headers: { ...sent.headers },
              ...(sent.body !== undefined && { body: sent.body, duplex: 'half' }),
            } as RequestInit)
      const text = await response.text()
      const body = text === '' ? null : (JSON.parse(text) as { code?: string })
      const wanted = {
        challenge: null,
        allow: null,
        retryAfter: null,
        rateLimit: null,
        rateLimitPolicy: null,
        ...expected,
      }
      expect({
        status: response.status,
        code: body?.code ?? null,
        challenge: response.headers.get('www-authenticate'),
        allow: response.headers.get('allow'),
        retryAfter: response.headers.get('retry-after'),
        rateLimit: response.headers.get('ratelimit'),
        rateLimitPolicy: response.headers.get('ratelimit-policy'),
        ...('contentType' in wanted && {
          contentType: wanted.contentType === undefined ? undefined : response.headers.get('content-type'),
        }),
        ...('cacheControl' in wanted && { cacheControl: response.headers.get('cache-control') }),
      }).toEqual(wanted)
      if (text !== '') expect(response.headers.get('content-length')).toBe(String(Buffer.byteLength(text)))
      // Nothing beside the core's headers, and the connection's own: no framework's mark, type or tag of its own.
      const others: string[] = []
      response.headers.forEach((_, name) => {
        if (!ANSWER_HEADERS.has(name)) others.push(name)
      })
      expect(others).toEqual([])
    })

    // Not a row: an unmatched path gets the framework's own 404 (Express's HTML page, Koa's text), not the core's.
    it('reaches no token through a prefix the client percent-encoded, as Express and Koa match it as sent', async () => {
      const id = await kit.target()
      const response = await fetch(`${app.url}/user/api%2Dtokens/${id}`, {
        method: 'DELETE',
        headers: session(kit),
      })
      await response.arrayBuffer()
      expect(response.status).toBe(404)
      expect((await kit.setup.tokens.list('1')).map((token) => token.id)).toContain(id)
    })

    it('clamps a child to its maker’s end, and the child stops with it', async () => {
      const maker = await kit.bearer(['create', 'read'], 2_000)
      const makerEnd = (await kit.setup.tokens.authenticate(maker))?.expiresAt?.toISOString()
      const post = (body: unknown) =>
        fetch(`${app.url}${bearerTokens}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${maker}`, 'content-type': 'application/json' },
          body: json(body),
        })
      const later = new Date(kit.setup.clock.now + 86_400_000).toISOString()
      for (const body of [
        { name: 'no expiry', permissions: ['read'] },
        { name: 'later', permissions: ['read'], expiresAt: later },
      ]) {
        const answer = await post(body)
        expect(answer.status).toBe(201)
        const created = (await answer.json()) as { token: { expiresAt: string }; plainTextToken: string }
        expect(created.token.expiresAt).toBe(makerEnd)
        const child = await kit.setup.tokens.authenticate(created.plainTextToken)
        expect(child?.expiresAt?.toISOString()).toBe(makerEnd)
      }
      const sooner = new Date(kit.setup.clock.now + 1_000).toISOString()
      const kept = (await (await post({ name: 'sooner', expiresAt: sooner })).json()) as {
        token: { expiresAt: string }
      }
      expect(kept.token.expiresAt).toBe(sooner)

      const child = (
        (await (await post({ name: 'child', permissions: ['read'] })).json()) as { plainTextToken: string }
      ).plainTextToken
      const me = (token: string) => fetch(`${app.url}/me`, { headers: { authorization: `Bearer ${token}` } })
      expect((await me(child)).status).toBe(200)
      kit.setup.clock.now += 2_000 // the maker's end
      expect((await me(maker)).status).toBe(401)
      expect((await me(child)).status).toBe(401)
    })
  })
}

// A JSON body of `size` bytes whose name is too long to accept (so a body that is read gets a 422).
function bigName(size: number): string {
  const frame = json({ name: '' })
  return json({ name: 'x'.repeat(size - frame.length) })
}

// The same bytes as a stream, so fetch sends them chunked, without a Content-Length.
function chunked(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text)
  let offset = 0
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.length) return controller.close()
      controller.enqueue(bytes.subarray(offset, offset + 16_384))
      offset += 16_384
    },
  })
}

// `fetch` resolves `.` and `..` (`%2e` too) in a path before it sends it, and keeps a `#…` fragment to itself, as
// every browser does; a crafted client need not.
const DOT_SEGMENT = /\/(?:\.|%2e){1,2}(?:\/|$)/i

/**
 * Sends the request target exactly as written (node:http resolves no dot segments, and sends an absolute URL as
 * the target a proxy is sent), answered as `fetch` answers.
 */
function sendAsIs(appUrl: string, sent: Sent): Promise<Response> {
  // Only the app's own path goes through the URL parser, which would resolve the dot segments too.
  const { hostname, port, pathname } = new URL(appUrl)
  const base = pathname.replace(/\/$/, '')
  const path = sent.path.startsWith('/') ? `${base}${sent.path}` : sent.path
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { hostname, port: Number(port), path, method: sent.method, headers: sent.headers },
      (incoming) => {
        const chunks: Buffer[] = []
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
        incoming.on('end', () => {
          const headers = new Headers()
          for (const [name, value] of Object.entries(incoming.headers)) {
            if (typeof value === 'string') headers.set(name, value)
            else if (Array.isArray(value)) for (const item of value) headers.append(name, item)
          }
          const status = incoming.statusCode ?? 0
          const body = status === 204 || status === 304 ? null : Buffer.concat(chunks)
          resolve(new Response(body, { status, headers }))
        })
      },
    )
    request.on('error', reject)
    if (typeof sent.body === 'string' || sent.body instanceof Uint8Array) request.end(sent.body)
    else request.end()
  })
}
