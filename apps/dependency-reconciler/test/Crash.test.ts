/**
 * Crash test with real processes: `converge-deps run` serves the API and dispatches the cascade
 * (push and sweeper) while this test works as the worker through the API. The engine is
 * SIGKILLed at random points mid-cascade — right after a completion commits (its hops in flight)
 * or while a claim / completion request is in flight — and restarted, again and again. At the
 * end every execution's state must equal a reference evaluation of the policies over the DAG,
 * and every group's counters must equal its applied edges by outcome (no edge counted twice).
 *
 * 20 kills by default; `CONVERGE_SOAK=1` runs 200.
 */
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Random, Schedule } from "effect"
import * as Staging from "../src/Staging.js"
import { startRun } from "./cliHarness.js"
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

const kills = process.env.CONVERGE_SOAK === "1" ? 200 : 20
const width = 6

/**
 * Enough flows that the cascade is still going at the last kill: a life completes one to four
 * executions before its kill (plus up to two in flight and its predecessor's leftovers), so the
 * flows hold at least six worker completions (executions that are not skipped) per kill.
 */
const crashFlows = (): ReadonlyArray<Staging.FlowSpec> => {
  const specs: Array<Staging.FlowSpec> = []
  let completable = 0
  while (completable < kills * 6) {
    const spec = fourLevelDag(`f${specs.length}-`, width)
    specs.push(spec)
    completable += [...expectedStates(spec, deterministicOutcome).values()].filter(
      (state) => state !== "skipped"
    ).length
  }
  return specs
}

const engineArgs = ["--sweep-interval", "200", "--stale-threshold-ms", "200"]

const allDone = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly live: number; readonly pending: number }>`
    SELECT (SELECT count(*) FROM deps_executions WHERE state IN ('blocked', 'runnable', 'running'))::int AS live,
           (SELECT count(*) FROM deps_completion_events WHERE dispatched_at IS NULL)::int AS pending`.pipe(
    Effect.map(([row]) => row ?? { live: 0, pending: 0 }),
    Effect.orDie
  )
)

describe("crash test", () => {
  layer(migratedDatabase, { excludeTestServices: true, timeout: 60_000 })("SIGKILL mid-cascade", (it) => {
    it.effect(
      `${kills} kills of converge-deps run on 4-level DAGs end in the reference states, each edge counted once`,
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          const env = { DATABASE_URL: database.url }
          const specs = crashFlows()
          const flows = yield* Effect.forEach(specs, (spec) => Staging.stage(spec))
          const worker = WorkerLoop.make(deterministicOutcome)
          // Kills that left completion events undispatched: the cascade was cut mid-way.
          let killsLeavingPendingEvents = 0
          // Kills while executions were still live: the workload was not over yet.
          let killsWithLiveWork = 0

          for (let kill = 0; kill < kills; kill++) {
            yield* Effect.scoped(
              Effect.gen(function* () {
                const engine = yield* startRun(engineArgs, env)
                yield* worker.finishLeftovers(engine)
                const completionsBeforeKill = yield* Random.nextIntBetween(1, 5)
                const killInFlight = yield* Random.nextBoolean
                let completed = 0
                while (completed < completionsBeforeKill) {
                  const done = yield* worker.workOnce(engine, 2)
                  if (done === 0) {
                    if ((yield* allDone).live === 0) break
                    // Nothing runnable yet: the cascade is on its way; poll again shortly.
                    yield* Effect.sleep("50 millis")
                  }
                  completed += done
                }
                if (killInFlight) {
                  // A claim and its completions are on the wire when the engine dies.
                  const inFlight = yield* Effect.fork(Effect.exit(worker.workOnce(engine, 2)))
                  yield* engine.process.kill("SIGKILL")
                  yield* Fiber.await(inFlight)
                } else {
                  yield* engine.process.kill("SIGKILL")
                }
                const afterKill = yield* allDone
                if (afterKill.pending > 0) killsLeavingPendingEvents++
                if (afterKill.live > 0) killsWithLiveWork++
              })
            )
          }

          // The last life: no kill; work and dispatch until nothing is live and nothing pending.
          yield* Effect.scoped(
            Effect.gen(function* () {
              const engine = yield* startRun(engineArgs, env)
              yield* worker.finishLeftovers(engine)
              yield* Effect.gen(function* () {
                yield* worker.workOnce(engine, 10)
                const state = yield* allDone
                if (state.live > 0 || state.pending > 0) return yield* Effect.fail("not done yet")
              }).pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 1200 }))
            })
          )

          yield* Effect.logInfo(
            `${specs.length} flows; of ${kills} kills, ${killsWithLiveWork} hit live work and ${killsLeavingPendingEvents} left events undispatched`
          )
          expect(killsLeavingPendingEvents).toBeGreaterThan(0)
          expect(killsWithLiveWork).toBe(kills)
          for (const [index, flow] of flows.entries()) {
            const spec = specs[index]
            if (spec === undefined) continue
            const expected = expectedStates(spec, deterministicOutcome)
            expect(Object.fromEntries(yield* actualStates(flow.flowId))).toEqual(Object.fromEntries(expected))
            expect(yield* violations(flow.flowId)).toEqual(none)
          }
        }),
      kills * 60_000
    )
  })
})
