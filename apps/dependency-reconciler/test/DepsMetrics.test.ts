import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import * as Completion from "../src/Completion.js"
import * as DepsMetrics from "../src/DepsMetrics.js"
import * as Dispatch from "../src/Dispatch.js"
import * as Policy from "../src/Policy.js"
import * as StaleSweeper from "../src/StaleSweeper.js"
import { migratedDatabase, stage } from "./helpers.js"

const decisions = (policy: string, outcome: string) =>
  Effect.map(
    Metric.value(
      Metric.tagged(Metric.tagged(DepsMetrics.decisionsTotal, "policy", policy), "outcome", outcome)
    ),
    (state) => state.count
  )

describe("DepsMetrics", () => {
  it.layer(migratedDatabase)("against Postgres", (it) => {
    it.effect("counts each decision once by policy and outcome, and the commit-to-runnable latency", () =>
      Effect.gen(function* () {
        const flow = yield* stage(
          [
            { name: "a" },
            { name: "b" },
            { name: "all", policy: Policy.allOf },
            { name: "any", policy: Policy.anyOf, onSatisfied: "let_run" }
          ],
          [
            ["a", "all"],
            ["b", "all"],
            ["a", "any"],
            ["b", "any"]
          ]
        )
        const allImpossibleBefore = yield* decisions("all_of", "impossible")
        const anySatisfiedBefore = yield* decisions("any_of", "satisfied")
        const latencyBefore = (yield* Metric.value(DepsMetrics.dispatchLatencySeconds)).count

        const first = yield* Completion.complete(flow.id("a"), "failed")
        yield* Dispatch.dispatch(first)
        const second = yield* Completion.complete(flow.id("b"), "succeeded")
        yield* Dispatch.dispatch(second)
        // A replay decides nothing and counts nothing.
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE deps_completion_events SET dispatched_at = NULL WHERE id = ${second}`
        yield* Dispatch.dispatch(second)

        expect((yield* decisions("all_of", "impossible")) - allImpossibleBefore).toBe(1)
        expect((yield* decisions("any_of", "satisfied")) - anySatisfiedBefore).toBe(1)
        const latency = yield* Metric.value(DepsMetrics.dispatchLatencySeconds)
        expect(latency.count - latencyBefore).toBe(1)
        expect(latency.max).toBeGreaterThanOrEqual(0)
        expect(latency.max).toBeLessThan(60)
      })
    )

    it.effect("polls pending count, oldest age and attempts from SQL into gauges and status", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE deps_completion_events SET dispatched_at = clock_timestamp() WHERE dispatched_at IS NULL`
        const status = yield* DepsMetrics.makeStatus()
        expect(yield* DepsMetrics.refreshPending(status)).toEqual({
          pendingEvents: 0,
          oldestPendingAgeSeconds: 0,
          maxPendingAttempts: 0
        })
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [])
        yield* Completion.complete(flow.id("a"), "succeeded")
        yield* Completion.complete(flow.id("b"), "succeeded")
        yield* sql`
          UPDATE deps_completion_events SET committed_at = clock_timestamp() - interval '90 seconds', attempts = 3
          WHERE flow_id = ${flow.flowId} AND execution_id = ${flow.id("a")}`

        const summary = yield* DepsMetrics.refreshPending(status)
        expect(summary.pendingEvents).toBe(2)
        expect(summary.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(90)
        expect(summary.oldestPendingAgeSeconds).toBeLessThan(120)
        expect(summary.maxPendingAttempts).toBe(3)
        expect((yield* Metric.value(DepsMetrics.pendingEvents)).value).toBe(2)
        expect((yield* Metric.value(DepsMetrics.oldestPendingAgeSeconds)).value).toBe(
          summary.oldestPendingAgeSeconds
        )
        expect(yield* status.get).toMatchObject(summary)
      })
    )

    it.effect("records each sweep report in the row counters and the status", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`UPDATE deps_completion_events SET dispatched_at = clock_timestamp() WHERE dispatched_at IS NULL`
        const rows = (result: string) =>
          Effect.map(
            Metric.value(Metric.tagged(DepsMetrics.sweepRowsTotal, "result", result)),
            (state) => state.count
          )
        const scannedBefore = yield* rows("scanned")
        const reconciledBefore = yield* rows("reconciled")
        const flow = yield* stage([{ name: "a" }, { name: "b" }, { name: "c" }], [])
        yield* Effect.forEach(["a", "b", "c"], (name) => Completion.complete(flow.id(name), "succeeded"))
        const status = yield* DepsMetrics.makeStatus()

        const report = yield* StaleSweeper.runOnce({ staleThresholdMs: 0, status })
        expect(report).toEqual({ scanned: 3, reconciled: 3, noop: 0, filtered: 0, errors: 0 })
        expect((yield* rows("scanned")) - scannedBefore).toBe(3)
        expect((yield* rows("reconciled")) - reconciledBefore).toBe(3)
        expect(yield* status.get).toMatchObject({ lastSweep: report, sweeps: 1 })
      })
    )
  })
})
