/**
 * Several `converge-deps run` replicas on one database: every replica LISTENs and sweeps (with
 * a zero stale threshold, so push and sweeper race on every event), workers claim and complete
 * through both APIs, and the result is still the reference evaluation with each edge counted once.
 */
import { TestDatabase } from "@converge/testing"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Schedule, Schema } from "effect"
import * as Api from "../src/Api.js"
import * as ApiHandlers from "../src/ApiHandlers.js"
import { callApi, startRun } from "./cliHarness.js"
import { migratedDatabase } from "./helpers.js"
import {
  actualStates,
  deterministicOutcome,
  expectedStates,
  fourLevelDag,
  none,
  violations
} from "./reference.js"
import * as WorkerLoop from "./workerLoop.js"

const flowSpec = fourLevelDag("replicas-", 5)

describe("replicas", () => {
  layer(migratedDatabase, { excludeTestServices: true, timeout: 60_000 })("on one database", (it) => {
    it.scoped(
      "two run replicas share the work and dispatch each edge exactly once",
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          const args = ["--sweep-interval", "50", "--stale-threshold-ms", "0"]
          const [first, second] = yield* Effect.all(
            [startRun(args, { DATABASE_URL: database.url }), startRun(args, { DATABASE_URL: database.url })],
            { concurrency: 2 }
          )
          const created = yield* callApi(first, "POST", "/flows", ApiHandlers.fromStagingSpec(flowSpec))
          expect(created.status).toBe(201)
          const flowId = Schema.decodeUnknownSync(Api.CreatedFlow)(created.body).flowId
          const worker = WorkerLoop.make(deterministicOutcome)
          const expected = Object.fromEntries(expectedStates(flowSpec, deterministicOutcome))

          // Claim on one replica and the other in turn until the flow ends, both dispatching.
          yield* Effect.gen(function* () {
            yield* Effect.all([worker.workOnce(first, 2), worker.workOnce(second, 2)], { concurrency: 2 })
            const flow = yield* callApi(second, "GET", `/flows/${flowId}`)
            const view = Schema.decodeUnknownSync(Api.FlowView)(flow.body)
            const pending = yield* violations(flowId)
            if (view.finishedAt === null || pending.pendingEvents.length > 0)
              return yield* Effect.fail("running")
          }).pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 1200 }))

          expect(Object.fromEntries(yield* actualStates(flowId))).toEqual(expected)
          expect(yield* violations(flowId)).toEqual(none)

          // Each replica serves its status server next to the API.
          for (const replica of [first, second]) {
            const [status, metrics, health] = yield* Effect.promise(() =>
              Promise.all([
                fetch(`${replica.statusUrl}/status`).then((response) => response.json()),
                fetch(`${replica.statusUrl}/metrics`).then((response) => response.text()),
                fetch(`${replica.statusUrl}/healthz`).then((response) => response.status)
              ])
            )
            expect(status).toMatchObject({ dispatcher: "subscribed", pendingEvents: expect.any(Number) })
            expect(metrics).toContain("converge_deps_pending_events")
            expect(health).toBe(200)
          }
          const decisions = yield* Effect.promise(() =>
            Promise.all(
              [first, second].map((replica) =>
                fetch(`${replica.statusUrl}/metrics`).then((response) => response.text())
              )
            )
          )
          // Both replicas together decided every group exactly once: 15 downstreams (levels 1 to 3, 5 each).
          const decided = decisions
            .flatMap((text) => [...text.matchAll(/^converge_deps_decisions_total\{[^}]*\} (\d+)$/gm)])
            .reduce((sum, match) => sum + Number(match[1]), 0)
          expect(decided).toBe(15)
        }),
      300_000
    )
  })
})
