import { describe, expect, it } from "@effect/vitest"
import { Data, Effect, Metric, Ref, Schedule, TestClock } from "effect"
import * as LeaderGate from "../src/LeaderGate.js"
import type { Observer } from "../src/Observer.js"
import * as Sweeper from "../src/Sweeper.js"

class ScanFailed extends Data.TaggedError("ScanFailed")<{ readonly tick: number }> {}

interface SweepReport {
  readonly tick: number
  readonly rowsFixed: number
}

/** A sweeper fixture: a counting tick, a recorded event log, and a gate the test controls. */
const fixture = (options: {
  readonly initiallyLeader: boolean
  readonly tick?: (tick: number) => Effect.Effect<SweepReport, ScanFailed>
}) =>
  Effect.gen(function* () {
    const gate = yield* LeaderGate.makeControlled(options.initiallyLeader)
    const ticks = yield* Ref.make(0)
    const events = yield* Ref.make<ReadonlyArray<Sweeper.SweeperEvent<SweepReport, ScanFailed>>>([])
    const observer: Observer<Sweeper.SweeperEvent<SweepReport, ScanFailed>> = {
      notify: (event) => Ref.update(events, (all) => [...all, event])
    }
    const tick = Effect.flatMap(
      Ref.updateAndGet(ticks, (n) => n + 1),
      (n) => (options.tick ? options.tick(n) : Effect.succeed({ tick: n, rowsFixed: n * 10 }))
    )
    const start = (name: string) =>
      Sweeper.make({ name, tick, schedule: Schedule.spaced("1 second"), observer }).pipe(
        Effect.provideService(LeaderGate.LeaderGate, gate)
      )
    return { gate, start, ticks: Ref.get(ticks), events: Ref.get(events) }
  })

describe("Sweeper", () => {
  it.scoped("ticks at once, then on its schedule, reporting each tick's report", () =>
    Effect.gen(function* () {
      const { start, ticks, events } = yield* fixture({ initiallyLeader: true })
      yield* start("on-schedule")
      yield* TestClock.adjust(0)
      expect(yield* ticks).toBe(1)
      yield* TestClock.adjust("1 second")
      expect(yield* ticks).toBe(2)
      yield* TestClock.adjust("3 seconds")
      expect(yield* ticks).toBe(5)
      yield* TestClock.adjust("999 millis")
      expect(yield* ticks).toBe(5)
      expect(
        (yield* events).map((event) => (event._tag === "TickCompleted" ? event.report.rowsFixed : -1))
      ).toEqual([10, 20, 30, 40, 50])
    })
  )

  it.scoped("reports a failed tick (error or defect) and goes on ticking", () =>
    Effect.gen(function* () {
      const { start, ticks, events } = yield* fixture({
        initiallyLeader: true,
        tick: (n) =>
          n === 2
            ? Effect.fail(new ScanFailed({ tick: n }))
            : n === 3
              ? Effect.die("scan crashed")
              : Effect.succeed({ tick: n, rowsFixed: 0 })
      })
      yield* start("failing-ticks")
      yield* TestClock.adjust("3 seconds")
      expect(yield* ticks).toBe(4)
      const reported = yield* events
      expect(reported.map((event) => event._tag)).toEqual([
        "TickCompleted",
        "TickFailed",
        "TickFailed",
        "TickCompleted"
      ])
      const failed = reported[1]
      expect(failed?._tag === "TickFailed" && failed.cause._tag).toBe("Fail")

      const ticksTotal = Metric.tagged(Sweeper.ticksTotal, "sweeper", "failing-ticks")
      expect((yield* Metric.value(Metric.tagged(ticksTotal, "result", "failure"))).count).toBe(2)
      expect((yield* Metric.value(Metric.tagged(ticksTotal, "result", "success"))).count).toBe(2)
    })
  )

  it.scoped("ticks only while leader: nothing before, promptly on election, nothing after losing it", () =>
    Effect.gen(function* () {
      const { gate, start, ticks } = yield* fixture({ initiallyLeader: false })
      yield* start("gated")
      yield* TestClock.adjust("10 seconds")
      expect(yield* ticks).toBe(0)

      yield* gate.setLeader(true)
      yield* TestClock.adjust(0)
      expect(yield* ticks).toBe(1)
      yield* TestClock.adjust("2 seconds")
      expect(yield* ticks).toBe(3)

      yield* gate.setLeader(false)
      yield* TestClock.adjust("10 seconds")
      expect(yield* ticks).toBe(3)

      yield* gate.setLeader(true)
      yield* TestClock.adjust(0)
      expect(yield* ticks).toBe(4)
    })
  )

  it.scoped("interrupts a tick when leadership is lost and reports it abandoned", () =>
    Effect.gen(function* () {
      const { gate, start, events } = yield* fixture({
        initiallyLeader: true,
        tick: (n) => Effect.as(Effect.sleep("10 seconds"), { tick: n, rowsFixed: 1 })
      })
      yield* start("abandoned")
      yield* TestClock.adjust("1 second")
      yield* gate.setLeader(false)
      yield* TestClock.adjust("30 seconds")
      expect(yield* events).toEqual([{ _tag: "TickAbandoned", sweeper: "abandoned", durationMs: 1000 }])
    })
  )

  it.effect("runOnce runs one ungated tick, reports it, and returns its report or fails with its error", () =>
    Effect.gen(function* () {
      const events = yield* Ref.make<ReadonlyArray<string>>([])
      const observer: Observer<Sweeper.SweeperEvent<SweepReport, ScanFailed>> = {
        notify: (event) => Ref.update(events, (all) => [...all, event._tag])
      }
      const report = yield* Sweeper.runOnce({
        name: "once",
        tick: Effect.succeed({ tick: 1, rowsFixed: 3 }),
        observer
      })
      expect(report).toEqual({ tick: 1, rowsFixed: 3 })
      const failure = yield* Effect.flip(
        Sweeper.runOnce({ name: "once", tick: Effect.fail(new ScanFailed({ tick: 2 })), observer })
      )
      expect(failure).toEqual(new ScanFailed({ tick: 2 }))
      expect(yield* Ref.get(events)).toEqual(["TickCompleted", "TickFailed"])
    })
  )
})
