import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Metric, Ref, TestClock } from "effect"
import * as Controller from "../src/Controller.js"
import * as LeaderGate from "../src/LeaderGate.js"
import * as Metrics from "../src/Metrics.js"
import type { Observer } from "../src/Observer.js"
import * as Outcome from "../src/Outcome.js"

let controllers = 0

/** A controller behind a gate the test controls, recording every run and every interrupted run. */
const startGated = (options: { readonly initiallyLeader: boolean; readonly blockFirstRun?: boolean }) =>
  Effect.gen(function* () {
    const gate = yield* LeaderGate.makeControlled(options.initiallyLeader)
    const runs = yield* Ref.make<ReadonlyArray<string>>([])
    const interrupted = yield* Ref.make<ReadonlyArray<string>>([])
    const events = yield* Ref.make<ReadonlyArray<Controller.ControllerEvent<string, unknown>>>([])
    const observer: Observer<Controller.ControllerEvent<string, unknown>> = {
      notify: (event) => Ref.update(events, (all) => [...all, event])
    }
    const controller = yield* Controller.make({
      name: `gated-controller-${controllers++}`,
      observer,
      reconcile: (key: string) =>
        Effect.gen(function* () {
          const previous = yield* Ref.getAndUpdate(runs, (all) => [...all, key])
          if (options.blockFirstRun === true && previous.length === 0) {
            yield* Effect.onInterrupt(Effect.never, () => Ref.update(interrupted, (all) => [...all, key]))
          }
          return Outcome.done
        })
    }).pipe(Effect.provideService(LeaderGate.LeaderGate, gate))
    const leaderGauge = Effect.map(
      Metric.value(Metric.tagged(Metrics.leader, "controller", controller.name)),
      (state) => state.value
    )
    return {
      gate,
      controller,
      leaderGauge,
      runs: Ref.get(runs),
      interrupted: Ref.get(interrupted),
      events: Ref.get(events)
    }
  })

describe("Controller behind a LeaderGate", () => {
  it.scoped("runs nothing while not leader, and everything waiting once it leads", () =>
    Effect.gen(function* () {
      const { gate, controller, runs, leaderGauge } = yield* startGated({ initiallyLeader: false })
      yield* controller.enqueueAll(["a", "b"])
      yield* controller.enqueueAfter("c", "1 second")
      yield* TestClock.adjust(Duration.hours(1))
      expect(yield* runs).toEqual([])
      expect(yield* controller.depth).toBe(3)
      expect(yield* leaderGauge).toBe(0)

      yield* gate.setLeader(true)
      yield* controller.awaitIdle
      expect(yield* runs).toEqual(["a", "b", "c"])
      expect(yield* leaderGauge).toBe(1)
    })
  )

  it.scoped("interrupts in-flight work when leadership is lost and re-runs it when leadership returns", () =>
    Effect.gen(function* () {
      const { gate, controller, runs, interrupted, events } = yield* startGated({
        initiallyLeader: true,
        blockFirstRun: true
      })
      yield* controller.enqueue("a")
      yield* TestClock.adjust(0)
      expect(yield* controller.inFlight).toBe(1)

      yield* gate.setLeader(false)
      yield* TestClock.adjust(0)
      expect(yield* interrupted).toEqual(["a"])
      expect(yield* controller.inFlight).toBe(0)
      expect(yield* controller.depth).toBe(1)
      yield* TestClock.adjust(Duration.hours(1))
      expect(yield* runs).toEqual(["a"])

      yield* gate.setLeader(true)
      yield* controller.awaitIdle
      expect(yield* runs).toEqual(["a", "a"])
      const reported = (yield* events).map((event) =>
        event._tag === "LeadershipChanged"
          ? `leader ${event.leader}`
          : `${event._tag} ${"key" in event ? event.key : ""}`
      )
      expect(reported).toEqual(["leader true", "leader false", "leader true", "ReconcileSucceeded a"])
      const errors = yield* Metric.value(
        Metric.tagged(Metrics.reconcileErrorsTotal, "controller", controller.name)
      )
      expect(errors.count).toBe(0)
    })
  )

  it.scoped("keeps following leadership: lose, regain, lose again", () =>
    Effect.gen(function* () {
      const { gate, controller, runs } = yield* startGated({ initiallyLeader: true })
      yield* controller.enqueue("a")
      yield* controller.awaitIdle
      yield* gate.setLeader(false)
      yield* TestClock.adjust(0)
      yield* controller.enqueue("b")
      yield* TestClock.adjust(Duration.minutes(1))
      expect(yield* runs).toEqual(["a"])
      yield* gate.setLeader(true)
      yield* controller.awaitIdle
      yield* gate.setLeader(false)
      yield* TestClock.adjust(0)
      yield* controller.enqueue("c")
      yield* TestClock.adjust(Duration.minutes(1))
      expect(yield* runs).toEqual(["a", "b"])
      yield* gate.setLeader(true)
      yield* controller.awaitIdle
      expect(yield* runs).toEqual(["a", "b", "c"])
    })
  )
})
