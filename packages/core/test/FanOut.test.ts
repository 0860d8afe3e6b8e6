import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Metric, Queue } from "effect"
import * as FanOut from "../src/FanOut.js"
import type { Observer } from "../src/Observer.js"

/** An observer that hands every event it receives to a queue the test reads. */
const recording = Effect.map(Queue.unbounded<number>(), (received) => {
  const observer: Observer<number> = { notify: (event) => Queue.offer(received, event) }
  return { observer, received }
})

const events = Array.from({ length: 100 }, (_, i) => i)

describe("FanOut", () => {
  it.scoped("sends every event to every observer, each in notify order", () =>
    Effect.gen(function* () {
      const observers = yield* Effect.all([recording, recording, recording])
      const fanOut = yield* FanOut.make(observers.map((recorder) => recorder.observer))
      yield* Effect.forEach(events, fanOut.notify, { discard: true })
      for (const { received } of observers) {
        expect(Array.from(yield* Queue.takeN(received, events.length))).toEqual(events)
      }
      expect(yield* fanOut.dropped).toEqual([0, 0, 0])
    })
  )

  it.scoped(
    "a failing observer and a never-finishing observer stall neither the pipeline nor the others",
    () =>
      Effect.gen(function* () {
        const healthy = yield* recording
        const evenOnly = yield* recording
        const failing: Observer<number> = {
          notify: (event) =>
            event % 2 === 1 ? Effect.die(`cannot handle ${event}`) : evenOnly.observer.notify(event)
        }
        const slowStarted = yield* Deferred.make<number>()
        const slow: Observer<number> = {
          notify: (event) => Effect.zipRight(Deferred.succeed(slowStarted, event), Effect.never)
        }
        const fanOut = yield* FanOut.make([healthy.observer, failing, slow], {
          name: "stall-test",
          bufferSize: 16
        })

        const [first, ...rest] = events
        yield* fanOut.notify(first ?? 0)
        expect(yield* Deferred.await(slowStarted)).toBe(0)
        yield* Effect.forEach(rest, (event) => Effect.zipRight(fanOut.notify(event), Effect.yieldNow()), {
          discard: true
        })

        expect(Array.from(yield* Queue.takeN(healthy.received, events.length))).toEqual(events)
        expect(Array.from(yield* Queue.takeN(evenOnly.received, events.length / 2))).toEqual(
          events.filter((event) => event % 2 === 0)
        )
        // The slow observer holds event 0 forever and buffers the next 16; the rest are dropped and counted.
        expect(yield* fanOut.dropped).toEqual([0, 0, events.length - 1 - 16])
        const droppedMetric = Metric.tagged(
          Metric.tagged(FanOut.droppedTotal, "fanout", "stall-test"),
          "observer",
          "2"
        )
        expect((yield* Metric.value(droppedMetric)).count).toBe(events.length - 1 - 16)
      })
  )

  it.scoped("rejects a buffer size that is not a positive integer, naming it", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(FanOut.make([], { name: "bad", bufferSize: 0 }))
      expect(exit._tag).toBe("Failure")
      expect(String(exit._tag === "Failure" && exit.cause)).toContain(
        "bufferSize must be a positive integer, got 0"
      )
    })
  )
})
