/**
 * Prometheus text exposition of every Effect metric in the process, through the
 * OpenTelemetry bridge:
 *
 * ```
 * Effect metric registry ──@effect/opentelemetry Metrics producer──▶ PrometheusExporter (a MetricReader,
 *                                                                      no server of its own)
 *                                      scrape ──▶ collect ──▶ PrometheusSerializer ──▶ text
 * ```
 *
 * Names come out as declared: a counter already named `…_total` keeps one `_total`; tags become
 * labels; histograms get `_bucket{le}`, `_sum` and `_count`. No `target_info` family and no
 * `otel_scope_name` label are added, so the exposition reads like a Prometheus client library's.
 */
import * as OtelMetrics from "@effect/opentelemetry/Metrics"
import * as OtelResource from "@effect/opentelemetry/Resource"
import { PrometheusExporter, PrometheusSerializer } from "@opentelemetry/exporter-prometheus"
import { Context, Data, Effect, Layer, type Scope } from "effect"
import { endWithNewline, tidy } from "./internal/exposition.js"

/** The content type of the exposition: Prometheus text format 0.0.4. */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/** A scrape could not collect the metrics (for example because the reader was already shut down). */
export class ScrapeError extends Data.TaggedError("ScrapeError")<{
  readonly cause: unknown
}> {
  override get message(): string {
    return `could not collect metrics: ${String(this.cause)}`
  }
}

/** Serves the current Effect metrics as Prometheus text. */
export class PrometheusMetrics extends Context.Tag("@converge/http/PrometheusMetrics")<
  PrometheusMetrics,
  {
    /** Every Effect metric of the process right now, as Prometheus text (ends with a newline). */
    readonly scrape: Effect.Effect<string, ScrapeError>
  }
>() {}

/** Registers a reader on Effect's metric registry for the scope's lifetime and returns the service. */
export const make: Effect.Effect<PrometheusMetrics["Type"], never, Scope.Scope> = Effect.gen(function* () {
  const reader = new PrometheusExporter({ preventServerStart: true })
  const producer = yield* OtelMetrics.makeProducer.pipe(Effect.provide(OtelResource.layerEmpty))
  yield* OtelMetrics.registerProducer(producer, () => reader)
  // Arguments: no prefix, no timestamps, no resource labels, withoutTargetInfo, withoutScopeInfo.
  const serializer = new PrometheusSerializer(undefined, false, undefined, true, true)
  const scrape = Effect.tryPromise({
    try: () => reader.collect(),
    catch: (cause) => new ScrapeError({ cause })
  }).pipe(
    Effect.tap(({ errors }) =>
      errors.length === 0 ? Effect.void : Effect.logWarning("some metrics could not be collected", errors)
    ),
    Effect.map(({ resourceMetrics }) => endWithNewline(serializer.serialize(tidy(resourceMetrics))))
  )
  return PrometheusMetrics.of({ scrape })
})

/** The service, reading Effect's global metric registry while the layer is alive. */
export const layer: Layer.Layer<PrometheusMetrics> = Layer.scoped(PrometheusMetrics, make)
