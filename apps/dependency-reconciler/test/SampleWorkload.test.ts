import { describe, expect, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as Engine from "../src/Engine.js"
import * as SampleWorkload from "../src/SampleWorkload.js"
import { migratedDatabase } from "./helpers.js"

/** One round of the four shapes has 17 executions. */
const executionsPerRound = 17

/** Waits (at most a minute) until a round of `namespace` is staged and none of it is live; returns the census. */
const settled = (namespace: string) =>
  SampleWorkload.census(namespace).pipe(
    Effect.filterOrFail(
      (census) =>
        Object.values(census).reduce((sum, count) => sum + count, 0) === executionsPerRound &&
        (census.blocked ?? 0) + (census.runnable ?? 0) + (census.running ?? 0) === 0,
      () => "still running"
    ),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 600 })
  )

describe("SampleWorkload", () => {
  layer(migratedDatabase, { excludeTestServices: true, timeout: 60_000 })("with the engine running", (it) => {
    it.scoped("without failures every execution succeeds, but mirrors a satisfied any_of cancelled", () =>
      Effect.gen(function* () {
        yield* Engine.run({ migrate: false, sweepInterval: "200 millis", staleThresholdMs: 200 })
        yield* SampleWorkload.start({
          namespace: "happy",
          failureRate: 0,
          workers: 2,
          workTime: 0,
          flowEvery: "1 hour"
        })
        // pipeline 3 + fan-out-any 4 + quorum-vote 6 + diamond-all-done 4; the first mirror to
        // succeed satisfies `download` (any_of), which cancels the mirrors still live.
        const census = yield* settled("happy")
        const cancelled = census.cancelled ?? 0
        expect(census).toEqual({ succeeded: 17 - cancelled, ...(cancelled > 0 ? { cancelled } : {}) })
        expect(cancelled).toBeLessThanOrEqual(2)
      })
    )

    it.scoped("when every execution fails, the policies skip what can no longer run", () =>
      Effect.gen(function* () {
        yield* Engine.run({ migrate: false, sweepInterval: "200 millis", staleThresholdMs: 200 })
        yield* SampleWorkload.start({
          namespace: "doomed",
          failureRate: 1,
          workers: 2,
          workTime: 0,
          flowEvery: "1 hour"
        })
        // failed: build, 3 mirrors, 5 voters, prepare, and report (all_done runs after skipped checks);
        // skipped: test, deploy, download, commit, lint, unit.
        expect(yield* settled("doomed")).toEqual({ failed: 11, skipped: 6 })
      })
    )

    it.effect("createFlows cycles through every shape", () =>
      Effect.gen(function* () {
        const flows = yield* SampleWorkload.createFlows(5, { namespace: "shapes", instanceTag: "t" })
        expect(flows.map((flow) => [...flow.executionIds.keys()].at(-1))).toEqual([
          "deploy",
          "download",
          "commit",
          "report",
          "deploy"
        ])
      })
    )
  })
})
