/**
 * Testing the instance manager: real Postgres (a fresh database from `TestDatabase.layer`), the
 * simulated cloud and `TestClock`, so minutes of health intervals and drains take no time. The
 * pattern: let the controller go idle, check, `TestClock.adjust`, repeat.
 */
import { TestDatabase } from "@converge/testing"
import { expect, layer } from "@effect/vitest"
import { Clock, Duration, Effect, Stream, TestClock } from "effect"
import { start } from "./instances-embedded.js"

type Started = Effect.Effect.Success<ReturnType<typeof start>>

/** Advances simulated time one second at a time until `condition` holds (at most `max`). */
const advanceUntil = (started: Started, condition: Effect.Effect<boolean>, max: Duration.DurationInput) =>
  Effect.gen(function* () {
    for (let elapsed = 0; elapsed <= Duration.toMillis(max); elapsed += 1_000) {
      // The controller's passes do real database work: wait for them in real time.
      yield* started.manager.controller.awaitIdle.pipe(Effect.withClock(Clock.make()))
      if (yield* condition) return
      yield* TestClock.adjust("1 second")
    }
    return yield* Effect.dieMessage(`not reached within ${Duration.format(max)} of simulated time`)
  })

const group = (started: Started, key: string) =>
  Effect.map(started.manager.status.get, (status) => status.groups[`default/${key}`])

layer(TestDatabase.layer, { timeout: 60_000 })("instance manager", (it) => {
  it.scoped(
    "converges, replaces a silent instance with a drain within its budget, and resizes",
    () =>
      Effect.gen(function* () {
        const started = yield* start({ instant: true })
        yield* started.gate.isLeader.changes.pipe(Stream.filter(Boolean), Stream.runHead)

        // From zero to desired: 3 web, 2 worker, all healthy.
        const healthy = (key: string, count: number) =>
          Effect.map(group(started, key), (figures) => figures?.healthy === count && figures.actual === count)
        yield* advanceUntil(
          started,
          Effect.zipWith(healthy("web", 3), healthy("worker", 2), (a, b) => a && b),
          "1 minute"
        )

        // Two web agents go silent: after 3 missed intervals each is replaced with a drain, but the
        // budget allows one replacement per 10 minutes, so the breaker opens for the second.
        const running = (yield* started.cloud.instances).filter((instance) => instance.group === "web")
        for (const instance of running.slice(0, 2)) yield* started.agents.mute(instance.instanceId)
        yield* advanceUntil(
          started,
          Effect.map(
            group(started, "web"),
            (figures) => figures?.breakerOpen === true && figures.draining === 1
          ),
          "2 minutes"
        )

        // The drain times out (1 minute), the window passes, and the second one is replaced too.
        yield* advanceUntil(started, healthy("web", 3), "15 minutes")
        expect((yield* group(started, "web"))?.breakerOpen).toBe(false)

        // A resize through the manager (what PUT /v1/groups/web does).
        yield* started.manager.setDesired("default", "web", 5)
        yield* advanceUntil(started, healthy("web", 5), "1 minute")
        const status = yield* started.manager.status.get
        expect(status.leader).toBe(true)
        expect(status.errorsTotal).toBe(0)
      }),
    120_000
  )
})
