import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Ref, TestClock } from "effect"
import * as KeyedDebouncer from "../src/KeyedDebouncer.js"

interface Delivery {
  readonly at: number
  readonly key: string
  readonly value: number
}

/** A keyed debouncer whose settles are recorded with the (test) time they happened at. */
const recording = (options: Omit<KeyedDebouncer.Options<string, number, never, never>, "onSettle">) =>
  Effect.gen(function* () {
    const deliveries = yield* Ref.make<ReadonlyArray<Delivery>>([])
    const debouncer = yield* KeyedDebouncer.make({
      ...options,
      onSettle: (key: string, value: number) =>
        Effect.flatMap(Clock.currentTimeMillis, (at) =>
          Ref.update(deliveries, (all) => [...all, { at, key, value }])
        )
    })
    return { debouncer, delivered: Ref.get(deliveries) }
  })

describe("KeyedDebouncer", () => {
  it.scoped("keeps one independent window per key", () =>
    Effect.gen(function* () {
      const { debouncer, delivered } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("a", 1)
      yield* TestClock.adjust("50 millis")
      yield* debouncer.set("b", 1)
      yield* TestClock.adjust("30 millis")
      yield* debouncer.set("a", 2)
      yield* TestClock.adjust("1 second")
      expect(yield* delivered).toEqual([
        { at: 150, key: "b", value: 1 },
        { at: 180, key: "a", value: 2 }
      ])
    })
  )

  it.scoped("forgets a key once it settles, so memory holds only keys in flight", () =>
    Effect.gen(function* () {
      const { debouncer, delivered } = yield* recording({ window: "100 millis" })
      yield* Effect.forEach(["a", "b", "c"], (key) => debouncer.set(key, 1), { discard: true })
      expect(yield* debouncer.pendingKeys).toBe(3)
      yield* TestClock.adjust("100 millis")
      expect(yield* debouncer.pendingKeys).toBe(0)
      yield* debouncer.set("a", 1)
      yield* TestClock.adjust("100 millis")
      const keys = (yield* delivered).map((delivery) => delivery.key)
      expect(keys.slice(0, 3).sort()).toEqual(["a", "b", "c"])
      expect(keys.slice(3)).toEqual(["a"])
    })
  )

  it.scoped("ignores a pending key set to the value it already waits with: no window restart", () =>
    Effect.gen(function* () {
      const { debouncer, delivered } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("a", 1)
      yield* TestClock.adjust("60 millis")
      yield* debouncer.set("a", 1)
      yield* TestClock.adjust("40 millis")
      expect(yield* delivered).toEqual([{ at: 100, key: "a", value: 1 }])
    })
  )

  it.scoped("flush(key) settles that key now; flush() settles every pending key", () =>
    Effect.gen(function* () {
      const { debouncer, delivered } = yield* recording({ window: "1 second" })
      yield* debouncer.set("a", 1)
      yield* debouncer.set("b", 2)
      yield* debouncer.set("c", 3)
      yield* debouncer.flush("b")
      expect(yield* delivered).toEqual([{ at: 0, key: "b", value: 2 }])
      yield* debouncer.flush("b")
      yield* debouncer.flush()
      expect((yield* delivered).map((delivery) => delivery.key).sort()).toEqual(["a", "b", "c"])
      yield* TestClock.adjust("5 seconds")
      expect(yield* delivered).toHaveLength(3)
    })
  )

  it.scoped("maxWait bounds each busy key on its own", () =>
    Effect.gen(function* () {
      const { debouncer, delivered } = yield* recording({ window: "100 millis", maxWait: "300 millis" })
      yield* Effect.forkScoped(
        Effect.forEach(
          Array.from({ length: 10 }, (_, i) => i),
          (i) => Effect.zipRight(debouncer.set("busy", i), Effect.sleep("50 millis")),
          { discard: true }
        )
      )
      yield* debouncer.set("quiet", 1)
      yield* TestClock.adjust("1 second")
      const busy = (yield* delivered).filter((delivery) => delivery.key === "busy")
      expect((yield* delivered).find((delivery) => delivery.key === "quiet")?.at).toBe(100)
      expect(busy[0]?.at).toBe(300)
      expect(busy.at(-1)).toEqual({ at: 550, key: "busy", value: 9 })
    })
  )

  it.scoped("with a zero window, a key has settled by the time set returns", () =>
    Effect.gen(function* () {
      const { debouncer, delivered } = yield* recording({ window: 0 })
      yield* debouncer.set("a", 1)
      expect(yield* delivered).toEqual([{ at: 0, key: "a", value: 1 }])
      expect(yield* debouncer.pendingKeys).toBe(0)
    })
  )

  it.scoped("reports a failed settle, forgets the key, and settles the key's next change", () =>
    Effect.gen(function* () {
      const events = yield* Ref.make<ReadonlyArray<string>>([])
      const settled = yield* Ref.make<ReadonlyArray<number>>([])
      const debouncer = yield* KeyedDebouncer.make({
        window: "100 millis",
        observer: { notify: (event) => Ref.update(events, (all) => [...all, `${event._tag}:${event.key}`]) },
        onSettle: (_key: string, value: number) =>
          value < 0 ? Effect.fail("negative" as const) : Ref.update(settled, (all) => [...all, value])
      })
      yield* debouncer.set("a", -1)
      yield* TestClock.adjust("100 millis")
      expect(yield* debouncer.pendingKeys).toBe(0)
      yield* debouncer.set("a", 1)
      yield* TestClock.adjust("100 millis")
      expect(yield* Ref.get(events)).toEqual(["SettleFailed:a", "Settled:a"])
      expect(yield* Ref.get(settled)).toEqual([1])
    })
  )

  it.scoped("close cancels every pending key, and later sets do nothing", () =>
    Effect.gen(function* () {
      const { debouncer, delivered } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("a", 1)
      yield* debouncer.set("b", 1)
      yield* debouncer.close
      yield* debouncer.set("c", 1)
      yield* debouncer.flush()
      yield* TestClock.adjust("1 second")
      expect(yield* delivered).toEqual([])
      expect(yield* debouncer.pendingKeys).toBe(0)
    })
  )
})
