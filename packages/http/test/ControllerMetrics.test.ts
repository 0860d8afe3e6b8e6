import { Controller, LeaderGate, Outcome, Reconciler } from "@converge/core"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { get, startServer } from "./Http.js"
import { parse, sampleValue } from "./PrometheusText.js"

const scrape = (url: string) => Effect.flatMap(get(`${url}/metrics`), (reply) => parse(reply.body))

describe("/metrics with a running controller", () => {
  it.scopedLive("moves the standard controller and work-queue series as keys are reconciled", () =>
    Effect.gen(function* () {
      const server = yield* startServer()
      const controller = yield* Controller.make({
        name: "metrics-demo",
        concurrency: 2,
        reconcile: (key: string) =>
          key.startsWith("bad")
            ? Effect.fail(new Reconciler.Terminal({ message: `cannot reconcile ${key}` }))
            : Effect.succeed(Outcome.done)
      }).pipe(Effect.provide(LeaderGate.always))

      const success = { controller: "metrics-demo", result: "success" }
      const terminal = { controller: "metrics-demo", result: "terminal" }
      const before = yield* scrape(server.url)
      expect(sampleValue(before, "converge_reconcile_total", success) ?? 0).toBe(0)

      yield* controller.enqueueAll(["a", "b", "c", "bad-1"])
      yield* controller.awaitIdle
      const after = yield* scrape(server.url)
      expect(sampleValue(after, "converge_reconcile_total", success)).toBe(3)
      expect(sampleValue(after, "converge_reconcile_total", terminal)).toBe(1)
      expect(sampleValue(after, "converge_reconcile_errors_total", { controller: "metrics-demo" })).toBe(1)
      expect(sampleValue(after, "converge_workqueue_adds_total", { name: "metrics-demo" })).toBe(4)
      expect(sampleValue(after, "converge_workqueue_depth", { name: "metrics-demo" })).toBe(0)
      expect(
        sampleValue(after, "converge_reconcile_duration_seconds_count", { controller: "metrics-demo" })
      ).toBe(4)
      expect(sampleValue(after, "converge_leader", { controller: "metrics-demo" })).toBe(1)

      yield* controller.enqueue("d")
      yield* controller.awaitIdle
      const later = yield* scrape(server.url)
      expect(sampleValue(later, "converge_reconcile_total", success)).toBe(4)
    })
  )
})
