import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Ref, TestClock } from "effect"
import * as ModeResolution from "../src/ModeResolution.js"
import * as ModeSignals from "../src/ModeSignals.js"

const recorder = Effect.gen(function* () {
  const applied = yield* Ref.make<ReadonlyArray<ModeResolution.Resolution>>([])
  const network = yield* Ref.make<ReadonlyArray<boolean>>([])
  return {
    apply: (resolution: ModeResolution.Resolution) => Ref.update(applied, (all) => [...all, resolution]),
    onNetworkAvailable: (available: boolean) => Ref.update(network, (all) => [...all, available]),
    applied: Effect.map(Ref.get(applied), (all) =>
      all.map((r) => [r.mode, Option.getOrNull(r.offlineDetail)])
    ),
    network: Ref.get(network)
  }
})

describe("ModeResolution", () => {
  const base: ModeResolution.Inputs = {
    networkAvailable: true,
    inForeground: true,
    runInBackground: false,
    foregroundMode: "streaming",
    override: Option.none()
  }
  it("first match wins: network, background disabled, background, foreground; the override beats the table", () => {
    expect(ModeResolution.resolve(base)).toEqual(ModeResolution.to("streaming"))
    expect(ModeResolution.resolve({ ...base, networkAvailable: false, inForeground: false })).toEqual(
      ModeResolution.offline("networkUnavailable")
    )
    expect(ModeResolution.resolve({ ...base, inForeground: false })).toEqual(
      ModeResolution.offline("backgroundDisabled")
    )
    expect(ModeResolution.resolve({ ...base, inForeground: false, runInBackground: true })).toEqual(
      ModeResolution.to("background")
    )
    expect(ModeResolution.resolve({ ...base, foregroundMode: "polling" })).toEqual(
      ModeResolution.to("polling")
    )
    expect(
      ModeResolution.resolve({ ...base, networkAvailable: false, override: Option.some("polling") })
    ).toEqual(ModeResolution.to("polling"))
    expect(ModeResolution.resolve({ ...base, override: Option.some("offline") })).toEqual(
      ModeResolution.offline("setOffline")
    )
  })
})

describe("ModeSignals", () => {
  it.scoped("a burst settles once, after the window passes quietly", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const signals = yield* ModeSignals.make({ apply: rec.apply, runInBackground: true })
      yield* signals.setNetworkAvailable(false)
      yield* TestClock.adjust(Duration.millis(500))
      yield* signals.setNetworkAvailable(true)
      yield* TestClock.adjust(Duration.millis(500))
      yield* signals.setInForeground(true) // unchanged: a no-op
      yield* signals.setNetworkAvailable(false)
      yield* TestClock.adjust(Duration.millis(999))
      expect(yield* rec.applied).toEqual([])
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* rec.applied).toEqual([["offline", "networkUnavailable"]])
    })
  )

  it.scoped("a zero window settles inside the setter", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const signals = yield* ModeSignals.make({ apply: rec.apply, window: 0 })
      yield* signals.setNetworkAvailable(false)
      expect(yield* rec.applied).toEqual([["offline", "networkUnavailable"]])
    })
  )

  it.scoped("foreground → background flushes at once", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const signals = yield* ModeSignals.make({ apply: rec.apply, runInBackground: true })
      yield* signals.setInForeground(false)
      expect(yield* rec.applied).toEqual([["background", null]])
      // Background → foreground is debounced.
      yield* signals.setInForeground(true)
      expect(yield* rec.applied).toHaveLength(1)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* rec.applied).toEqual([
        ["background", null],
        ["streaming", null]
      ])
    })
  )

  it.scoped("the override is recorded at once, applied after the window, and beats the table", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const signals = yield* ModeSignals.make({ apply: rec.apply, runInBackground: true })
      yield* signals.setMode(Option.some("polling"))
      expect(yield* signals.override).toEqual(Option.some("polling"))
      expect(yield* rec.applied).toEqual([])
      // Automatic transitions stop at once: going to the background now resolves to the override.
      yield* signals.setInForeground(false)
      expect(yield* rec.applied).toEqual([["polling", null]])
      yield* signals.setNetworkAvailable(false)
      yield* TestClock.adjust(Duration.seconds(5))
      expect(yield* rec.applied).toEqual([["polling", null]])
      // Clearing the override hands the decision back to the table.
      yield* signals.setMode(Option.none())
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* rec.applied).toEqual([
        ["polling", null],
        ["offline", "networkUnavailable"]
      ])
    })
  )

  it.scoped("offline bypasses the window", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const signals = yield* ModeSignals.make({ apply: rec.apply })
      yield* signals.setMode(Option.some("offline"))
      expect(yield* rec.applied).toEqual([["offline", "setOffline"]])
    })
  )

  it.scoped("network availability is passed on at once; only the mode is debounced", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const signals = yield* ModeSignals.make({
        apply: rec.apply,
        onNetworkAvailable: rec.onNetworkAvailable
      })
      yield* signals.setNetworkAvailable(false)
      expect(yield* rec.network).toEqual([false])
      expect(yield* rec.applied).toEqual([])
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* rec.applied).toEqual([["offline", "networkUnavailable"]])
    })
  )

  it.scoped("a reconcile that resolves to the current mode is a no-op", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const signals = yield* ModeSignals.make({ apply: rec.apply })
      yield* signals.setNetworkAvailable(false)
      yield* signals.setNetworkAvailable(true)
      yield* TestClock.adjust(Duration.seconds(2))
      expect(yield* rec.applied).toEqual([])
      expect(yield* signals.resolved).toEqual(ModeResolution.to("streaming"))
    })
  )

  it.scoped("a process that starts in the background reconciles on the first signal", () =>
    Effect.gen(function* () {
      const rec = yield* recorder
      const options = { apply: rec.apply, runInBackground: true, initial: { inForeground: false } }
      expect(ModeSignals.initialResolution(options)).toEqual(ModeResolution.to("background"))
      const signals = yield* ModeSignals.make(options)
      yield* signals.setInForeground(true)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* rec.applied).toEqual([["streaming", null]])
    })
  )

  it.scoped(
    "a process started as if in the foreground goes to the background on its first background signal",
    () =>
      Effect.gen(function* () {
        const rec = yield* recorder
        const signals = yield* ModeSignals.make({ apply: rec.apply })
        yield* signals.setInForeground(false)
        expect(yield* rec.applied).toEqual([["offline", "backgroundDisabled"]])
      })
  )
})
