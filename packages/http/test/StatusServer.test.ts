import { Metrics, Status } from "@converge/core"
import { describe, expect, it } from "@effect/vitest"
import {
  ConfigProvider,
  Duration,
  Effect,
  Exit,
  Layer,
  Logger,
  Metric,
  MetricLabel,
  Ref,
  Schema
} from "effect"
import * as StatusServer from "../src/StatusServer.js"
import { get, startServer } from "./Http.js"
import { parse, sampleValue } from "./PrometheusText.js"

const withPortVariable = (port: string) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["CONVERGE_HTTP_PORT", port]])))

describe("StatusServer", () => {
  it.scopedLive("answers /healthz with 200 ok and unknown paths with 404", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const health = yield* get(`${server.url}/healthz`)
      expect(health).toMatchObject({ status: 200, body: "ok" })
      const unknown = yield* get(`${server.url}/nope`)
      expect(unknown.status).toBe(404)
    })
  )

  it.scopedLive("binds a free port for 0 and logs its URL first, as http://127.0.0.1:PORT", () =>
    Effect.gen(function* () {
      const logged: Array<string> = []
      const recordLogs = Logger.replace(
        Logger.defaultLogger,
        Logger.make(({ message }) => {
          logged.push(Array.isArray(message) ? message.join(" ") : String(message))
        })
      )
      const server = yield* startServer().pipe(Effect.provide(recordLogs))
      expect(server.host).toBe("127.0.0.1")
      expect(server.port).toBeGreaterThan(0)
      expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
      expect(logged[0]).toBe(`Status server listening on http://127.0.0.1:${server.port}`)
    })
  )

  it.scopedLive("/readyz answers 503 until the ready effect says ready, then 200", () =>
    Effect.gen(function* () {
      const ready = yield* Ref.make(false)
      const server = yield* startServer({ ready: Ref.get(ready) })
      const before = yield* get(`${server.url}/readyz`)
      expect(before).toMatchObject({ status: 503, body: "not ready" })
      yield* Ref.set(ready, true)
      const after = yield* get(`${server.url}/readyz`)
      expect(after).toMatchObject({ status: 200, body: "ready" })
    })
  )

  it.scopedLive("/readyz is 200 when no ready effect is given", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const reply = yield* get(`${server.url}/readyz`)
      expect(reply.status).toBe(200)
    })
  )

  it.scopedLive("/status serves the status encoded by its schema and follows status.set", () =>
    Effect.gen(function* () {
      const SyncStatus = Schema.Struct({
        phase: Schema.Literal("backfilling", "streaming"),
        since: Schema.Date,
        lag: Schema.DurationFromMillis
      })
      const status = yield* Status.make(
        SyncStatus,
        SyncStatus.make({
          phase: "backfilling",
          since: new Date("2024-05-01T10:00:00.000Z"),
          lag: Duration.seconds(90)
        })
      )
      const server = yield* startServer({ status })
      const first = yield* get(`${server.url}/status`)
      expect(first.status).toBe(200)
      expect(first.contentType).toContain("application/json")
      expect(JSON.parse(first.body)).toEqual({
        phase: "backfilling",
        since: "2024-05-01T10:00:00.000Z",
        lag: 90000
      })

      yield* status.set({
        phase: "streaming",
        since: new Date("2024-05-01T10:05:00.000Z"),
        lag: Duration.millis(250)
      })
      const second = yield* get(`${server.url}/status`)
      expect(JSON.parse(second.body)).toEqual({
        phase: "streaming",
        since: "2024-05-01T10:05:00.000Z",
        lag: 250
      })
    })
  )

  it.scopedLive("/readyz answers 503 when the ready check itself dies", () =>
    Effect.gen(function* () {
      const server = yield* startServer({ ready: Effect.dieMessage("lease table missing") })
      const reply = yield* get(`${server.url}/readyz`)
      expect(reply).toMatchObject({ status: 503, body: "readiness check failed" })
    })
  )

  it.scopedLive("/status is 500 naming the problem when the snapshot breaks its schema", () =>
    Effect.gen(function* () {
      const status = yield* Status.make(Schema.Struct({ workers: Schema.Int }), { workers: 1.5 })
      const server = yield* startServer({ status })
      const reply = yield* get(`${server.url}/status`)
      expect(reply.status).toBe(500)
      expect(reply.body).toContain("status does not match its schema")
      expect(reply.body).toContain("workers")
    })
  )

  it.scopedLive("/status is 404 when the app has no status", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const reply = yield* get(`${server.url}/status`)
      expect(reply).toMatchObject({ status: 404, body: "no status configured" })
    })
  )

  it.scopedLive("/metrics serves the standard metrics as Prometheus text with their types", () =>
    Effect.gen(function* () {
      const byController = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>) =>
        Metric.tagged(metric, "controller", "catalog")
      const byQueue = <Type, In, Out>(metric: Metric.Metric<Type, In, Out>) =>
        Metric.tagged(metric, "name", "catalog")
      yield* Metric.increment(Metric.tagged(byController(Metrics.reconcileTotal), "result", "success"))
      yield* Metric.increment(byController(Metrics.reconcileErrorsTotal))
      yield* Metric.update(byController(Metrics.reconcileDurationSeconds), 0.02)
      yield* Metric.set(byQueue(Metrics.workqueueDepth), 3)
      yield* Metric.increment(byQueue(Metrics.workqueueAddsTotal))
      yield* Metric.increment(byQueue(Metrics.workqueueRetriesTotal))
      yield* Metric.update(byQueue(Metrics.workqueueQueueDurationSeconds), 0.004)
      yield* Metric.set(byController(Metrics.activeWorkers), 1)
      yield* Metric.set(byController(Metrics.leader), 1)

      const server = yield* startServer()
      const reply = yield* get(`${server.url}/metrics`)
      expect(reply.status).toBe(200)
      expect(reply.contentType).toMatch(/^text\/plain; version=0\.0\.4/)
      expect(reply.body).toContain("# TYPE converge_reconcile_total counter\n")
      expect(reply.body).not.toContain("_total_total")

      const families = yield* parse(reply.body)
      const types = Object.fromEntries([...families.values()].map((family) => [family.name, family.type]))
      expect(types).toMatchObject({
        converge_reconcile_total: "counter",
        converge_reconcile_errors_total: "counter",
        converge_reconcile_duration_seconds: "histogram",
        converge_workqueue_depth: "gauge",
        converge_workqueue_adds_total: "counter",
        converge_workqueue_retries_total: "counter",
        converge_workqueue_queue_duration_seconds: "histogram",
        converge_active_workers: "gauge",
        converge_leader: "gauge"
      })
      expect(families.get("converge_reconcile_total")?.help).toBe(
        "Total number of reconciliations per controller and result"
      )
      expect(
        sampleValue(families, "converge_reconcile_total", {
          controller: "catalog",
          result: "success"
        })
      ).toBe(1)
      expect(sampleValue(families, "converge_workqueue_depth", { name: "catalog" })).toBe(3)
      const durationBuckets = families
        .get("converge_reconcile_duration_seconds")
        ?.samples.filter((sample) => sample.name === "converge_reconcile_duration_seconds_bucket")
        .map((sample) => sample.labels.le)
      expect(durationBuckets).toEqual([
        ...[...Metrics.durationBoundaries.values].slice(0, -1).map(String),
        "+Inf"
      ])
    })
  )

  it.scopedLive("/metrics moves between two scrapes when the standard metrics change", () =>
    Effect.gen(function* () {
      const reconciled = Metric.taggedWithLabels(Metrics.reconcileTotal, [
        MetricLabel.make("controller", "moving"),
        MetricLabel.make("result", "success")
      ])
      const duration = Metric.tagged(Metrics.reconcileDurationSeconds, "controller", "moving")
      const depth = Metric.tagged(Metrics.workqueueDepth, "name", "moving")
      yield* Metric.increment(reconciled)
      yield* Metric.update(duration, 0.1)
      yield* Metric.set(depth, 5)
      const server = yield* startServer()

      const scrape = Effect.flatMap(get(`${server.url}/metrics`), (reply) => parse(reply.body))
      const read = (families: Effect.Effect.Success<typeof scrape>) => ({
        reconciled: sampleValue(families, "converge_reconcile_total", {
          controller: "moving",
          result: "success"
        }),
        durationCount: sampleValue(families, "converge_reconcile_duration_seconds_count", {
          controller: "moving"
        }),
        durationAt025: sampleValue(families, "converge_reconcile_duration_seconds_bucket", {
          controller: "moving",
          le: "0.25"
        }),
        durationAt03: sampleValue(families, "converge_reconcile_duration_seconds_bucket", {
          controller: "moving",
          le: "0.3"
        }),
        depth: sampleValue(families, "converge_workqueue_depth", { name: "moving" })
      })

      const before = read(yield* scrape)
      expect(before).toEqual({ reconciled: 1, durationCount: 1, durationAt025: 1, durationAt03: 1, depth: 5 })

      yield* Metric.increment(reconciled)
      yield* Metric.increment(reconciled)
      yield* Metric.update(duration, 0.3)
      yield* Metric.set(depth, 2)

      const after = read(yield* scrape)
      expect(after).toEqual({ reconciled: 3, durationCount: 2, durationAt025: 1, durationAt03: 2, depth: 2 })
    })
  )

  it.scopedLive("takes its port from CONVERGE_HTTP_PORT unless the port option is given", () =>
    Effect.gen(function* () {
      const occupied = yield* startServer()
      const fromOption = yield* startServer({ port: 0 }).pipe(withPortVariable(String(occupied.port)))
      expect(fromOption.port).not.toBe(occupied.port)
      const fromVariable = yield* Layer.build(StatusServer.layer()).pipe(
        withPortVariable(String(occupied.port)),
        Effect.exit
      )
      expect(Exit.isFailure(fromVariable) && String(fromVariable.cause)).toContain("ServeError")
    })
  )

  it.scopedLive("fails with a ConfigError naming CONVERGE_HTTP_PORT when it is not a port", () =>
    Effect.gen(function* () {
      const exit = yield* Layer.build(StatusServer.layer()).pipe(withPortVariable("70000"), Effect.exit)
      expect(Exit.isFailure(exit) && String(exit.cause)).toContain("CONVERGE_HTTP_PORT")
    })
  )
})
