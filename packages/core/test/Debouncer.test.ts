import { describe, expect, it } from "@effect/vitest"
import { Clock, Data, Effect, Metric, Ref, TestClock } from "effect"
import * as Debouncer from "../src/Debouncer.js"
import type { Observer } from "../src/Observer.js"

interface Signals extends Record<string, unknown> {
  readonly online: boolean
  readonly foreground: boolean
  readonly mode: string
}

const initial: Signals = { online: true, foreground: true, mode: "streaming" }

class SettleRefused extends Data.TaggedError("SettleRefused")<{ readonly mode: string }> {}

/** A debouncer whose settles are recorded with the (test) time they happened at. */
const recording = (options: Omit<Debouncer.Options<Signals, never, never>, "initial" | "onSettle">) =>
  Effect.gen(function* () {
    const settles = yield* Ref.make<ReadonlyArray<{ readonly at: number; readonly record: Signals }>>([])
    const debouncer = yield* Debouncer.make({
      ...options,
      initial,
      onSettle: (record) =>
        Effect.flatMap(Clock.currentTimeMillis, (at) =>
          Ref.update(settles, (all) => [...all, { at, record }])
        )
    })
    const settled = Effect.map(Ref.get(settles), (all) => all.map((settle) => settle.record))
    const settledAt = Effect.map(Ref.get(settles), (all) => all.map((settle) => settle.at))
    return { debouncer, settled, settledAt }
  })

/** Changes `mode` to "0", "1", … "199", one every 50 ms: never quiet for 100 ms during 10 s. */
const everyFiftyMillis = (debouncer: Debouncer.Debouncer<Signals>) =>
  Effect.forEach(
    Array.from({ length: 200 }, (_, i) => i),
    (i) => Effect.zipRight(debouncer.set("mode", String(i)), Effect.sleep("50 millis")),
    { discard: true }
  )

describe("Debouncer", () => {
  it.scoped("settles once, a full window after the last change of a burst", () =>
    Effect.gen(function* () {
      const { debouncer, settled, settledAt } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("mode", "polling")
      yield* TestClock.adjust("30 millis")
      yield* debouncer.set("online", false)
      yield* TestClock.adjust("30 millis")
      yield* debouncer.set("mode", "offline")
      yield* TestClock.adjust("99 millis")
      expect(yield* settled).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(yield* settled).toEqual([{ online: false, foreground: true, mode: "offline" }])
      expect(yield* settledAt).toEqual([160])
      yield* TestClock.adjust("1 second")
      expect(yield* settledAt).toEqual([160])
    })
  )

  it.scoped("ignores a set to the value a field already holds: no settle, no window restart", () =>
    Effect.gen(function* () {
      const { debouncer, settled, settledAt } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("online", true)
      yield* TestClock.adjust("1 second")
      expect(yield* settled).toEqual([])

      yield* debouncer.set("online", false)
      yield* TestClock.adjust("60 millis")
      yield* debouncer.set("online", false)
      yield* debouncer.update({ online: false, foreground: true })
      yield* TestClock.adjust("40 millis")
      expect(yield* settledAt).toEqual([1100])
    })
  )

  it.scoped("settles a flap-and-return (A → B → A) exactly once, with the returned value", () =>
    Effect.gen(function* () {
      const { debouncer, settled } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("foreground", false)
      yield* TestClock.adjust("20 millis")
      yield* debouncer.set("foreground", true)
      yield* TestClock.adjust("1 second")
      expect(yield* settled).toEqual([initial])
    })
  )

  it.scoped("delivers changes to several fields as one settle carrying all of them", () =>
    Effect.gen(function* () {
      const { debouncer, settled } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("online", false)
      yield* debouncer.set("foreground", false)
      yield* debouncer.update({ mode: "background" })
      yield* TestClock.adjust("100 millis")
      expect(yield* settled).toEqual([{ online: false, foreground: false, mode: "background" }])
      expect(yield* debouncer.current).toEqual({ online: false, foreground: false, mode: "background" })
    })
  )

  it.scoped("with a zero window, has settled by the time the setter returns", () =>
    Effect.gen(function* () {
      const { debouncer, settled } = yield* recording({ window: 0 })
      yield* debouncer.set("online", false)
      expect(yield* settled).toEqual([{ ...initial, online: false }])
      yield* debouncer.update({ online: false, mode: "polling" })
      expect(yield* settled).toEqual([
        { ...initial, online: false },
        { ...initial, online: false, mode: "polling" }
      ])
      yield* debouncer.set("mode", "polling")
      expect(yield* settled).toHaveLength(2)
    })
  )

  it.scoped(
    "flush settles now and cancels the pending window; it also forces a settle of an unchanged record",
    () =>
      Effect.gen(function* () {
        const { debouncer, settled, settledAt } = yield* recording({ window: "1 second" })
        yield* debouncer.flush
        expect(yield* settled).toEqual([initial])

        yield* TestClock.adjust("10 millis")
        yield* debouncer.set("online", false)
        yield* debouncer.flush
        expect(yield* settled).toEqual([initial, { ...initial, online: false }])
        yield* TestClock.adjust("5 seconds")
        expect(yield* settledAt).toEqual([0, 10])
      })
  )

  it.scoped("close cancels the pending settle, and later sets and flushes do nothing", () =>
    Effect.gen(function* () {
      const { debouncer, settled } = yield* recording({ window: "100 millis" })
      yield* debouncer.set("online", false)
      yield* debouncer.close
      yield* TestClock.adjust("1 second")
      yield* debouncer.set("mode", "offline")
      yield* debouncer.flush
      yield* TestClock.adjust("1 second")
      expect(yield* settled).toEqual([])
      expect(yield* debouncer.current).toEqual({ ...initial, online: false })
    })
  )

  it.scoped("reports a failed settle (observer and counter) and still settles the next change", () =>
    Effect.gen(function* () {
      const events = yield* Ref.make<ReadonlyArray<Debouncer.DebouncerEvent<Signals, SettleRefused>>>([])
      const observer: Observer<Debouncer.DebouncerEvent<Signals, SettleRefused>> = {
        notify: (event) => Ref.update(events, (all) => [...all, event])
      }
      const delivered = yield* Ref.make<ReadonlyArray<string>>([])
      const debouncer = yield* Debouncer.make({
        name: "failing-settle-test",
        initial,
        window: "100 millis",
        observer,
        onSettle: (record: Signals) =>
          record.mode === "broken"
            ? Effect.fail(new SettleRefused({ mode: record.mode }))
            : Ref.update(delivered, (all) => [...all, record.mode])
      })
      yield* debouncer.set("mode", "broken")
      yield* TestClock.adjust("100 millis")
      const [failed] = yield* Ref.get(events)
      expect(failed?._tag).toBe("SettleFailed")
      expect(failed?._tag === "SettleFailed" && failed.record.mode).toBe("broken")

      yield* debouncer.set("mode", "polling")
      yield* TestClock.adjust("100 millis")
      expect(yield* Ref.get(delivered)).toEqual(["polling"])
      expect((yield* Ref.get(events)).map((event) => event._tag)).toEqual(["SettleFailed", "Settled"])

      const counter = Metric.tagged(Debouncer.settlesTotal, "debouncer", "failing-settle-test")
      expect((yield* Metric.value(Metric.tagged(counter, "result", "failure"))).count).toBe(1)
      expect((yield* Metric.value(Metric.tagged(counter, "result", "success"))).count).toBe(1)
    })
  )

  it.scoped("a defect in the settle callback is reported too and does not wedge later settles", () =>
    Effect.gen(function* () {
      const events = yield* Ref.make<ReadonlyArray<string>>([])
      const debouncer = yield* Debouncer.make({
        initial,
        window: 0,
        observer: { notify: (event) => Ref.update(events, (all) => [...all, event._tag]) },
        onSettle: (record: Signals) => (record.online ? Effect.void : Effect.die("boom"))
      })
      yield* debouncer.set("online", false)
      yield* debouncer.set("online", true)
      expect(yield* Ref.get(events)).toEqual(["SettleFailed", "Settled"])
    })
  )

  it.scoped(
    "maxWait bounds a never-quiet input: changes every 50 ms for 10 s settle about every second",
    () =>
      Effect.gen(function* () {
        const { debouncer, settled, settledAt } = yield* recording({
          window: "100 millis",
          maxWait: "1 second"
        })
        yield* Effect.forkScoped(everyFiftyMillis(debouncer))
        yield* TestClock.adjust("10100 millis")
        const times = yield* settledAt
        const lastChangeCarried = (yield* settled).map((record) => Number(record.mode))
        expect(times).toHaveLength(10)
        expect(times[0]).toBe(1000)
        expect(times.at(-1)).toBe(10050)
        expect(lastChangeCarried.at(-1)).toBe(199)
        times.forEach((at, i) => {
          const firstUnsettledChangeAt = ((lastChangeCarried[i - 1] ?? -1) + 1) * 50
          expect(at - firstUnsettledChangeAt).toBeLessThanOrEqual(1000)
        })
      }),
    30_000
  )

  it.scoped(
    "without maxWait, the same never-quiet input settles only once it goes quiet",
    () =>
      Effect.gen(function* () {
        const { debouncer, settledAt } = yield* recording({ window: "100 millis" })
        yield* Effect.forkScoped(everyFiftyMillis(debouncer))
        yield* TestClock.adjust("10100 millis")
        expect(yield* settledAt).toEqual([10050])
      }),
    30_000
  )

  it.scoped("settles never overlap: changes made during a slow settle are delivered right after it", () =>
    Effect.gen(function* () {
      const running = yield* Ref.make(0)
      const mostAtOnce = yield* Ref.make(0)
      const delivered = yield* Ref.make<ReadonlyArray<{ readonly at: number; readonly mode: string }>>([])
      const debouncer = yield* Debouncer.make({
        initial,
        window: "100 millis",
        maxWait: "100 millis",
        onSettle: (record: Signals) =>
          Effect.gen(function* () {
            const now = yield* Ref.updateAndGet(running, (n) => n + 1)
            yield* Ref.update(mostAtOnce, (most) => Math.max(most, now))
            yield* Effect.sleep("500 millis")
            yield* Ref.update(running, (n) => n - 1)
            const at = yield* Clock.currentTimeMillis
            yield* Ref.update(delivered, (all) => [...all, { at, mode: record.mode }])
          })
      })
      yield* debouncer.set("mode", "first")
      yield* TestClock.adjust("150 millis")
      yield* debouncer.set("mode", "second")
      yield* TestClock.adjust("150 millis")
      yield* debouncer.set("mode", "third")
      yield* TestClock.adjust("2 seconds")
      expect(yield* Ref.get(delivered)).toEqual([
        { at: 600, mode: "first" },
        { at: 1100, mode: "third" }
      ])
      expect(yield* Ref.get(mostAtOnce)).toBe(1)
    })
  )

  it.scoped(
    "a zero-window set made from inside the settle callback settles right after it, without deadlock",
    () =>
      Effect.gen(function* () {
        const delivered = yield* Ref.make<ReadonlyArray<string>>([])
        const debouncer: Debouncer.Debouncer<Signals> = yield* Debouncer.make({
          initial,
          window: 0,
          onSettle: (record: Signals) =>
            Effect.zipRight(
              Ref.update(delivered, (all) => [...all, record.mode]),
              record.mode === "polling" ? debouncer.set("mode", "offline") : Effect.void
            )
        })
        yield* debouncer.set("mode", "polling")
        expect(yield* Ref.get(delivered)).toEqual(["polling", "offline"])
      })
  )
})
