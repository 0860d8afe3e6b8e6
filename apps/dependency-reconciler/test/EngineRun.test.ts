import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import * as Completion from "../src/Completion.js"
import * as Engine from "../src/Engine.js"
import { events, stage, states } from "./helpers.js"

// Real sockets and real time: wait on conditions, bounded, never on fixed sleeps.
const eventually = <E, R>(condition: Effect.Effect<boolean, E, R>, what: string) =>
  condition.pipe(
    Effect.flatMap((holds) => (holds ? Effect.void : Effect.fail("not yet" as const))),
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeoutFail({ duration: Duration.seconds(30), onTimeout: () => `Timed out waiting until ${what}` })
  )

describe("Engine.run", () => {
  // An unmigrated database: the engine migrates it.
  layer(TestDatabase.layer, { timeout: 120_000, excludeTestServices: true })("against Postgres", (it) => {
    it.scoped("migrates, dispatches by push, sweeps, and reports its status", () =>
      Effect.gen(function* () {
        const engine = yield* Engine.run({
          push: true,
          sweepInterval: "50 millis",
          staleThresholdMs: 0,
          pendingPollInterval: "50 millis"
        })
        yield* eventually(
          Effect.map(engine.status.get, (status) => status.dispatcher === "subscribed" && status.sweeps > 0),
          "the dispatcher is subscribed and a sweep ran"
        )
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* Completion.complete(flow.id("a"), "succeeded")
        yield* eventually(
          Effect.map(states(flow.flowId), (current) => current.b === "runnable"),
          "b is runnable"
        )
        yield* eventually(
          Effect.map(engine.status.get, (status) => status.pendingEvents === 0 && status.lastSweep !== null),
          "the status shows no pending event"
        )
        const status = yield* engine.status.get
        expect(status.subscriptions).toBe(1)
        expect(status.lastSweep).toMatchObject({ errors: 0 })
        expect(yield* engine.status.encoded).toMatchObject({ dispatcher: "subscribed", pendingEvents: 0 })
      })
    )

    it.scoped(
      "with push off, the sweeper alone drains its namespace and leaves others to their own engines",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const engine = yield* Engine.run({
            push: false,
            sweepInterval: "20 millis",
            staleThresholdMs: 0,
            namespace: "mine",
            instanceTag: "blue"
          })
          const ours = yield* stage(
            [{ name: "a" }, { name: "b" }, { name: "c" }],
            [
              ["a", "b"],
              ["b", "c"]
            ],
            { namespace: "mine", instanceTag: "blue" }
          )
          const theirs = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]], {
            namespace: "mine",
            instanceTag: "green"
          })
          yield* Completion.complete(theirs.id("a"), "failed")
          yield* Completion.complete(ours.id("a"), "failed")
          yield* eventually(
            Effect.map(
              events(ours.flowId),
              (all) => all.length === 3 && all.every((event) => event.dispatched)
            ),
            "our skip cascade is dispatched"
          )
          expect(yield* states(ours.flowId)).toEqual({ a: "failed", b: "skipped", c: "skipped" })
          expect((yield* engine.status.get).dispatcher).toBe("off")
          yield* eventually(
            Effect.map(engine.status.get, (status) => status.lastSweep?.filtered === 1),
            "a sweep reports the other tag's event as filtered"
          )
          expect(yield* states(theirs.flowId)).toEqual({ a: "failed", b: "blocked" })
          const [pending] = yield* sql<{ readonly count: number }>`
          SELECT count(*)::int AS count FROM deps_completion_events WHERE flow_id = ${theirs.flowId} AND dispatched_at IS NULL`
          expect(pending?.count).toBe(1)
        })
    )
  })
})
