import { Metrics } from "@converge/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries } from "effect"
import * as PrometheusMetrics from "../src/PrometheusMetrics.js"
import { parse, sampleValue } from "./PrometheusText.js"

const scrape = Effect.flatMap(PrometheusMetrics.PrometheusMetrics, (metrics) => metrics.scrape)

describe("PrometheusMetrics", () => {
  it.scoped(
    "reads like a Prometheus client's exposition: no target_info, scope labels or placeholder units",
    () =>
      Effect.gen(function* () {
        yield* Metric.increment(
          Metric.tagged(Metric.tagged(Metrics.reconcileTotal, "controller", "plain"), "result", "success")
        )
        const text = yield* scrape
        expect(text).toContain('converge_reconcile_total{controller="plain",result="success"} 1\n')
        expect(text).not.toContain("target_info")
        expect(text).not.toContain("otel_scope")
        expect(text).not.toContain("# UNIT converge_reconcile_total")
        expect(text.endsWith("\n")).toBe(true)
      }).pipe(Effect.provide(PrometheusMetrics.layer))
  )

  it.scoped("prints exponential bucket boundaries without float noise, so le labels match dashboards", () =>
    Effect.gen(function* () {
      yield* Metric.update(Metric.tagged(Metrics.workqueueQueueDurationSeconds, "name", "tidy"), 0.05)
      const families = yield* Effect.flatMap(scrape, parse)
      const bucketBounds = families
        .get("converge_workqueue_queue_duration_seconds")
        ?.samples.filter((sample) => sample.name.endsWith("_bucket"))
        .map((sample) => sample.labels.le)
      expect(bucketBounds).toEqual([
        "0.000001",
        "0.00001",
        "0.0001",
        "0.001",
        "0.01",
        "0.1",
        "1",
        "10",
        "+Inf"
      ])
      expect(
        sampleValue(families, "converge_workqueue_queue_duration_seconds_bucket", {
          name: "tidy",
          le: "0.1"
        })
      ).toBe(1)
    }).pipe(Effect.provide(PrometheusMetrics.layer))
  )

  it.scoped("escapes label values so any controller name stays parseable", () =>
    Effect.gen(function* () {
      const awkwardName = 'orders "eu"\\west\nprimary'
      yield* Metric.set(Metric.tagged(Metrics.activeWorkers, "controller", awkwardName), 2)
      const families = yield* Effect.flatMap(scrape, parse)
      expect(sampleValue(families, "converge_active_workers", { controller: awkwardName })).toBe(2)
    }).pipe(Effect.provide(PrometheusMetrics.layer))
  )

  it.scoped("keeps a metric's own unit tag as its Prometheus unit", () =>
    Effect.gen(function* () {
      const latency = Metric.tagged(
        Metric.histogram("demo_latency", MetricBoundaries.linear({ start: 0, width: 10, count: 3 })),
        "time_unit",
        "milliseconds"
      )
      yield* Metric.update(latency, 12)
      const text = yield* scrape
      expect(text).toContain("# UNIT demo_latency milliseconds\n")
      yield* parse(text)
    }).pipe(Effect.provide(PrometheusMetrics.layer))
  )
})
