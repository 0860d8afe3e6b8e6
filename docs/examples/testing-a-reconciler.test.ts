/**
 * Testing time-based behaviour with `TestClock`: the DNS reconciler's retries and its
 * `RequeueAfter` polling run in simulated time, so a minute of waiting takes no time at all.
 * The pattern: `awaitIdle`, `TestClock.adjust`, `awaitIdle`.
 */
import { Controller, LeaderGate, Observer } from "@converge/core"
import { expect, it } from "@effect/vitest"
import { Effect, Ref, TestClock } from "effect"
import { dnsRecords, inMemoryProvider } from "./reconciler.js"

it.scoped("retries an outage, polls until the record has propagated, and never retries a bad name", () =>
  Effect.gen(function* () {
    const desired = new Map([
      ["api.example.com", "10.0.0.1"],
      ["not a name", "10.0.0.2"]
    ])
    const { provider, records } = yield* inMemoryProvider({ propagation: "25 seconds", outages: 1 })
    const events = yield* Ref.make<ReadonlyArray<string>>([])
    const record = Observer.make((event: Controller.ControllerEvent<string, unknown>) =>
      event._tag === "LeadershipChanged"
        ? Effect.void
        : Ref.update(events, (all) => [
            ...all,
            event._tag === "ReconcileSucceeded"
              ? `${event.key}: ${event.outcome._tag}`
              : `${event.key}: ${event._tag}`
          ])
    )
    const controller = yield* Controller.make({
      name: "dns",
      reconcile: dnsRecords(desired, provider),
      observer: record
    })

    yield* controller.enqueueAll(desired.keys())
    yield* controller.awaitIdle
    // The outage failed the first run; the retry (5 ms later) wrote the record.
    yield* TestClock.adjust("5 millis")
    yield* controller.awaitIdle
    expect((yield* records).get("api.example.com")?.value).toBe("10.0.0.1")

    // Not propagated at 10 s and 20 s; in sync at 30 s.
    yield* TestClock.adjust("30 seconds")
    yield* controller.awaitIdle
    expect(yield* Ref.get(events)).toEqual([
      "api.example.com: ReconcileFailed",
      "not a name: ReconcileTerminal",
      "api.example.com: RequeueAfter",
      "api.example.com: RequeueAfter",
      "api.example.com: RequeueAfter",
      "api.example.com: Done"
    ])
  }).pipe(Effect.provide(LeaderGate.always))
)
