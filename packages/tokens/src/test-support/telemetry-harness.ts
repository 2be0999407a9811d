import type { Attributes } from '@opentelemetry/api'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace'

/** One data point of a metric: its attributes and its value (a number, or a histogram's count, sum, min, max). */
export interface Point {
  readonly attributes: Attributes
  readonly value: unknown
}

/**
 * The OpenTelemetry SDK wired to in-memory exporters, as an app would set it up with real ones: spans as they end,
 * metrics as a reader collects them (cumulative).
 */
export interface TelemetryHarness {
  readonly tracerProvider: TracerProvider
  readonly meterProvider: MeterProvider
  /** Every span ended so far. */
  spans(): Promise<ReadableSpan[]>
  /** Every metric exported now, by name: its unit and data points. */
  metrics(): Promise<Map<string, { unit: string; points: Point[] }>>
  /** The raw export, for checks over everything the SDK received. */
  export(): Promise<ResourceMetrics[]>
  shutdown(): Promise<void>
}

export function telemetryHarness(): TelemetryHarness {
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new TracerProvider({
    spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })],
  })
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // Exports only when asked to (forceFlush): an hour between periodic exports is never reached in a test.
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const exported = async () => {
    metricExporter.reset()
    await reader.forceFlush()
    return metricExporter.getMetrics()
  }
  return {
    tracerProvider,
    meterProvider,
    async spans() {
      await tracerProvider.forceFlush()
      return spanExporter.getFinishedSpans()
    },
    async metrics() {
      const byName = new Map<string, { unit: string; points: Point[] }>()
      for (const resource of await exported()) {
        for (const scope of resource.scopeMetrics) {
          for (const metric of scope.metrics) {
            const points = metric.dataPoints.map((point) => ({
              attributes: point.attributes,
              value: point.value,
            }))
            byName.set(metric.descriptor.name, { unit: metric.descriptor.unit, points })
          }
        }
      }
      return byName
    },
    export: exported,
    async shutdown() {
      await tracerProvider.shutdown()
      await meterProvider.shutdown()
    },
  }
}
