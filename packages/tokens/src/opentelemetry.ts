/**
 * Spans and metrics for the token service, through the OpenTelemetry API: `createTokens({ telemetry:
 * openTelemetry() })`. A separate entry, so that only apps that ask for it load `@opentelemetry/api` (an optional
 * peer dependency); the main entry never imports it.
 *
 * @example
 * ```ts
 * import { openTelemetry } from '@jetstream/tokens/opentelemetry'
 * ```
 */
import {
  type Attributes,
  type Counter,
  type Histogram,
  type Meter,
  metrics,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import { hasOwnMessage, isTokenError, MisconfigurationError } from './errors.js'
import type {
  ActionEvent,
  AuthenticationEvent,
  FlushEvent,
  RateLimitEvent,
  TokenAction,
  TokenTelemetry,
} from './token-telemetry.js'

/**
 * What {@link openTelemetry} takes; all optional.
 *
 * @example
 * ```ts
 * const options: OpenTelemetryOptions = { tracer: provider.getTracer('tokens'), recordTokenId: true }
 * ```
 */
export interface OpenTelemetryOptions {
  /** Default: the global tracer provider's `@jetstream/tokens` tracer. */
  readonly tracer?: Tracer
  /**
   * Default: the global meter provider's `@jetstream/tokens` meter, looked up at the first event (so the SDK may
   * be started after this is built, as long as it is before the first request).
   */
  readonly meter?: Meter
  /**
   * Put the token id on spans (`jetstream_tokens.token.id`). Default false: an id is no secret, but a refused one
   * may be made up by whoever sent it, and it identifies a user's token. Never on metrics.
   */
  readonly recordTokenId?: boolean
}

const SCOPE = '@jetstream/tokens'
// The version of this package, for the instrumentation scope; a test holds it to package.json.
const VERSION = '0.1.0'

const OUTCOME = 'jetstream_tokens.outcome'
const REASON = 'jetstream_tokens.reason'
const CACHE_HIT = 'jetstream_tokens.cache.hit'
const STORE_DURATION_MS = 'jetstream_tokens.store.duration_ms'
const STORE_OPERATION = 'jetstream_tokens.store.operation'
const TOKEN_ID = 'jetstream_tokens.token.id'
const TOKEN_COUNT = 'jetstream_tokens.token.count'
const RATE_LIMIT_POLICY = 'jetstream_tokens.rate_limit.policy'
const ERROR_TYPE = 'error.type'

// Span names are snake_case, as OpenTelemetry names are.
const ACTION_SPANS: Record<TokenAction, string> = {
  create: 'jetstream_tokens.create',
  list: 'jetstream_tokens.list',
  update: 'jetstream_tokens.update',
  rotate: 'jetstream_tokens.rotate',
  revoke: 'jetstream_tokens.revoke',
  revokeAll: 'jetstream_tokens.revoke_all',
  prune: 'jetstream_tokens.prune',
}

interface Instruments {
  readonly authentications: Counter
  readonly cacheLookups: Counter
  readonly storeDuration: Histogram
  readonly flushSize: Histogram
  readonly rateLimitRefusals: Counter
}

function instrumentsOf(meter: Meter): Instruments {
  return {
    authentications: meter.createCounter('jetstream_tokens.authentications', {
      unit: '{authentication}',
      description: 'Authentications by outcome, and by reason when refused.',
    }),
    cacheLookups: meter.createCounter('jetstream_tokens.cache.lookups', {
      unit: '{lookup}',
      description: 'Verification cache lookups, hits and misses.',
    }),
    storeDuration: meter.createHistogram('jetstream_tokens.store.duration', {
      unit: 's',
      description:
        'Time spent waiting for the token store: lookups that authenticate, writes of last-used touches.',
      // A lookup by primary key takes from microseconds (in memory) to tens of milliseconds (a remote database).
      advice: {
        explicitBucketBoundaries: [
          0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
        ],
      },
    }),
    flushSize: meter.createHistogram('jetstream_tokens.last_used.flush.size', {
      unit: '{token}',
      description: 'Tokens each write of coalesced last-used touches wrote.',
      advice: { explicitBucketBoundaries: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] },
    }),
    rateLimitRefusals: meter.createCounter('jetstream_tokens.rate_limit.refusals', {
      unit: '{request}',
      description: 'Requests a rate limit refused, by the limit that refused them.',
    }),
  }
}

/**
 * Telemetry for {@link createTokens} that makes OpenTelemetry spans and metrics. Each authentication is a span
 * `jetstream_tokens.authenticate`, each management action a span `jetstream_tokens.{create, list, update, rotate,
 * revoke, revoke_all, prune}`, with its real start and end; metrics count authentications, cache lookups and
 * rate-limit refusals, and measure store waits and last-used flushes. No span or metric ever holds a plain text,
 * secret or hash; the token id only with `recordTokenId`.
 *
 * The returned object's `rateLimited({ policy })` counts a request a rate limit refused
 * (`jetstream_tokens.rate_limit.refusals`); the service's rate limits call it.
 *
 * @example
 * ```ts
 * import { createTokens, MemoryTokenStore } from '@jetstream/tokens'
 * import { openTelemetry } from '@jetstream/tokens/opentelemetry'
 *
 * const tokens = createTokens({ store: new MemoryTokenStore(), telemetry: openTelemetry() })
 * ```
 */
export function openTelemetry(options: OpenTelemetryOptions = {}): Required<TokenTelemetry> {
  const { tracer: givenTracer, meter: givenMeter, recordTokenId = false } = options
  if (givenTracer !== undefined && typeof givenTracer?.startSpan !== 'function') {
    throw new MisconfigurationError('`tracer` is an OpenTelemetry Tracer: provider.getTracer(name).')
  }
  if (givenMeter !== undefined && typeof givenMeter?.createCounter !== 'function') {
    throw new MisconfigurationError('`meter` is an OpenTelemetry Meter: provider.getMeter(name).')
  }
  if (typeof recordTokenId !== 'boolean') throw new MisconfigurationError('`recordTokenId` is true or false.')
  // The API's global tracer is a proxy that follows a provider registered later; its meter is not, hence the wait.
  const tracer = givenTracer ?? trace.getTracer(SCOPE, VERSION)
  let instruments: Instruments | undefined
  const instrumentsNow = () => {
    instruments ??= instrumentsOf(givenMeter ?? metrics.getMeter(SCOPE, VERSION))
    return instruments
  }

  return {
    authentication(event: AuthenticationEvent): void {
      // Every request runs this: no object here is built by spreading another, which costs V8 several times the
      // rest of this function (measured in isolation: 3.3 µs per authentication with spreads, 1.3 µs without).
      // A span's cost grows with its attributes (the SDK checks each as the span starts): none for a store that
      // was not asked.
      const errorType = event.outcome === 'error' ? errorTypeOf(event.error) : undefined
      const counted: Attributes = { [OUTCOME]: event.outcome }
      const attributes: Attributes = { [OUTCOME]: event.outcome }
      if (event.reason !== null) counted[REASON] = attributes[REASON] = event.reason
      if (errorType !== undefined) counted[ERROR_TYPE] = attributes[ERROR_TYPE] = errorType
      if (event.cacheHit !== null) attributes[CACHE_HIT] = event.cacheHit
      if (event.storeMs !== null) attributes[STORE_DURATION_MS] = event.storeMs
      if (recordTokenId && event.tokenId !== null) attributes[TOKEN_ID] = event.tokenId
      const { authentications, cacheLookups, storeDuration } = instrumentsNow()
      authentications.add(1, counted)
      if (event.cacheHit !== null) cacheLookups.add(1, { [CACHE_HIT]: event.cacheHit })
      if (event.storeMs !== null) {
        const stored: Attributes = { [STORE_OPERATION]: 'find' }
        const storeFailed = isTokenError(event.error) && event.error.code === 'storage_unavailable'
        if (storeFailed && errorType !== undefined) stored[ERROR_TYPE] = errorType
        storeDuration.record(event.storeMs / 1000, stored)
      }

      const span = tracer.startSpan('jetstream_tokens.authenticate', {
        kind: SpanKind.INTERNAL,
        startTime: event.startTime,
        attributes,
      })
      if (event.outcome === 'error') span.setStatus(errorStatus(event.error))
      span.end(event.endTime)
    },

    action(event: ActionEvent): void {
      const attributes: Attributes = { [OUTCOME]: event.outcome }
      if (event.count !== null) attributes[TOKEN_COUNT] = event.count
      if (recordTokenId && event.tokenId !== null) attributes[TOKEN_ID] = event.tokenId
      if (event.outcome === 'refused' || event.outcome === 'error') {
        attributes[ERROR_TYPE] = errorTypeOf(event.error)
      }
      const span = tracer.startSpan(ACTION_SPANS[event.action], {
        kind: SpanKind.INTERNAL,
        startTime: event.startTime,
        attributes,
      })
      if (event.outcome === 'error') span.setStatus(errorStatus(event.error))
      span.end(event.endTime)
    },

    flush(event: FlushEvent): void {
      const failed: Attributes = event.error === undefined ? {} : { [ERROR_TYPE]: errorTypeOf(event.error) }
      const { flushSize, storeDuration } = instrumentsNow()
      flushSize.record(event.size, failed)
      storeDuration.record((event.endTime - event.startTime) / 1000, {
        [STORE_OPERATION]: 'touch',
        ...failed,
      })
    },

    rateLimited(event: RateLimitEvent): void {
      instrumentsNow().rateLimitRefusals.add(1, { [RATE_LIMIT_POLICY]: event.policy })
    },
  }
}

// OpenTelemetry's `error.type`: the class name of what was thrown (StorageUnavailableError, TypeError), from a
// bounded set, as a metric attribute must be: an app's error class, whose name could be anything (`Err-${id}`),
// is `_OTHER`.
function errorTypeOf(error: unknown): string {
  if (!(error instanceof Error)) return '_OTHER'
  const known = isTokenError(error)
    ? /^[A-Za-z]{1,64}Error$/.test(error.name)
    : BUILT_IN_ERRORS.has(error.name)
  return known ? error.name : '_OTHER'
}

const BUILT_IN_ERRORS: ReadonlySet<string> = new Set([
  'Error',
  'TypeError',
  'RangeError',
  'ReferenceError',
  'SyntaxError',
  'EvalError',
  'URIError',
  'AggregateError',
])

// Only the errors this package built when a store or a limiter failed lend their message: written here, they never
// hold a secret (a driver's message is kept only as the redacted `cause`). Any other error, an app's from
// `authenticateUsing` or a custom store's (even one of this package's classes, with a message of its own), might
// hold anything.
function errorStatus(error: unknown): { code: SpanStatusCode; message?: string } {
  return hasOwnMessage(error)
    ? { code: SpanStatusCode.ERROR, message: error.message }
    : { code: SpanStatusCode.ERROR }
}
