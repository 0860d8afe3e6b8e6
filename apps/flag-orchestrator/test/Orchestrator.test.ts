import { describe, expect, it } from "@effect/vitest"
import {
  Chunk,
  Duration,
  Effect,
  Exit,
  Fiber,
  Option,
  Ref,
  Scope,
  Stream,
  Supervisor,
  TestClock
} from "effect"
import * as DataStatus from "../src/DataStatus.js"
import * as DataSystem from "../src/DataSystem.js"
import * as FallbackDirective from "../src/FallbackDirective.js"
import * as ModeResolution from "../src/ModeResolution.js"
import * as Orchestrator from "../src/Orchestrator.js"
import * as Selector from "../src/Selector.js"
import * as Source from "../src/Source.js"
import * as Store from "../src/Store.js"
import * as T from "./TestSources.js"

const streaming = ModeResolution.to("streaming")

/** Lets every runnable fiber run until `condition` holds (in-memory work only, no clock). */
const eventually = (condition: Effect.Effect<boolean>, label: string) =>
  Effect.gen(function* () {
    for (let turn = 0; turn < 2000; turn++) {
      if (yield* condition) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`never happened: ${label}`)
  })

const settle = Effect.repeatN(Effect.yieldNow(), 50)

const events = Effect.gen(function* () {
  const seen = yield* Ref.make<ReadonlyArray<Orchestrator.Event>>([])
  return {
    observer: { notify: (event: Orchestrator.Event) => Ref.update(seen, (all) => [...all, event]) },
    tags: Effect.map(Ref.get(seen), (all) => all.map((event) => event._tag)),
    all: Ref.get(seen)
  }
})

const flagsOf = (system: DataSystem.DataSystem) =>
  Effect.map(system.store, (store) => Object.fromEntries(Store.all(store, "flag")))

/** Two FDv2 synchronizers A (primary) and B, no initializers, a data system in streaming mode. */
const twoSynchronizers = (options: Partial<Orchestrator.Options> = {}) =>
  Effect.gen(function* () {
    const a = yield* T.synchronizer("A")
    const b = yield* T.synchronizer("B")
    const log = yield* events
    const system = yield* T.dataSystem(() => T.sources([], [a, b]), streaming, options, log.observer)
    yield* eventually(a.active, "A runs")
    return { a, b, log, system }
  })

describe("Orchestrator: initializers", () => {
  it.scoped(
    "data without a selector is applied and the chain continues; the first selector completes it",
    () =>
      Effect.gen(function* () {
        const cache = yield* T.initializer("cache", T.full("", 0, T.put("cached", 1)))
        const poll = yield* T.initializer("polling", T.full("s1", 1, T.put("fresh", 1)))
        const never = yield* T.initializer("never", T.full("s9", 9))
        const sync = yield* T.synchronizer("streaming")
        const system = yield* T.dataSystem(() => T.sources([cache, poll, never], [sync]), streaming)
        yield* system.waitForInitialization
        yield* eventually(sync.active, "the synchronizer runs")
        expect(yield* cache.calls).toBe(1)
        expect(yield* poll.calls).toBe(1)
        expect(yield* never.calls).toBe(0)
        // The polling initializer's full payload replaced the cached data.
        expect(yield* flagsOf(system)).toEqual({ fresh: { value: true } })
        expect(yield* sync.bases).toEqual([Selector.make("s1", 1)])
        expect((yield* system.status.get).state).toBe("valid")
      })
  )

  it.scoped("initializers are skipped while a selector is held (a mode switch keeps the selector)", () =>
    Effect.gen(function* () {
      const poll = yield* T.initializer("polling", T.full("s1", 1, T.put("a", 1)))
      const stream = yield* T.synchronizer("streaming")
      const background = yield* T.synchronizer("background-polling")
      const log = yield* events
      const system = yield* T.dataSystem(
        (mode) => T.sources([poll], [mode === "background" ? background : stream]),
        streaming,
        {},
        log.observer
      )
      yield* eventually(stream.active, "streaming runs")
      yield* stream.emit(T.partial("s2", 2, T.put("b", 2)))
      yield* eventually(
        Effect.map(system.store, (s) => s.selector.state === "s2"),
        "s2 applied"
      )
      yield* system.switchMode(ModeResolution.to("background"))
      yield* eventually(background.active, "background polling runs")
      expect(yield* poll.calls).toBe(1)
      expect(yield* background.bases).toEqual([Selector.make("s2", 2)])
      expect(yield* log.tags).toContain("InitializersSkipped")
    })
  )

  it.scoped("identify clears the selector: the initializers run again from an empty basis", () =>
    Effect.gen(function* () {
      const poll = yield* T.initializer("polling", T.full("s1", 1, T.put("a", 1)))
      const stream = yield* T.synchronizer("streaming")
      const system = yield* T.dataSystem(() => T.sources([poll], [stream]), streaming)
      yield* system.waitForInitialization
      yield* system.identify
      expect(yield* poll.calls).toBe(2)
    })
  )
})

describe("Orchestrator: identify", () => {
  it.scoped("identify fails when every source is exhausted before the new identity has data", () =>
    Effect.gen(function* () {
      const poll = yield* T.initializer("polling", T.full("s1", 1, T.put("a", 1)), T.interrupted())
      const refusing = yield* T.synchronizer("refusing", "fdv2", [T.terminal()])
      const system = yield* T.dataSystem(() => T.sources([poll], [refusing]), streaming)
      yield* system.waitForInitialization
      const exit = yield* Effect.exit(system.identify)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("DataSystemHaltedError")
      expect((yield* system.status.get).state).toBe("shutdown")
    })
  )
})

describe("Orchestrator: fallback", () => {
  it.scoped("fires exactly fallbackTimeout after the first interruption, not re-armed by later ones", () =>
    Effect.gen(function* () {
      const { a, b } = yield* twoSynchronizers()
      yield* a.emit(T.full("s1", 1, T.put("x", 1)))
      yield* a.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.seconds(60))
      yield* a.emit(T.interrupted("second"))
      yield* settle
      yield* TestClock.adjust(Duration.millis(59_999))
      yield* settle
      expect(yield* b.runs).toBe(0)
      yield* TestClock.adjust(Duration.millis(1))
      yield* eventually(b.active, "B runs after the fallback")
      expect(yield* a.active).toBe(false)
      // The list wraps: B interrupted for the fallback timeout goes back to A.
      yield* b.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.seconds(120))
      yield* eventually(
        Effect.map(a.runs, (n) => n === 2),
        "A runs again after B's fallback"
      )
    })
  )

  it.scoped("a change set between interruption and timeout cancels the fallback", () =>
    Effect.gen(function* () {
      const { a, b, log } = yield* twoSynchronizers()
      yield* a.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.seconds(100))
      yield* a.emit(T.partial("s1", 1, T.put("x", 1)))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(600))
      yield* settle
      expect(yield* b.runs).toBe(0)
      expect(yield* log.tags).not.toContain("FallbackFired")
      // A new first interruption arms it again, timed from then.
      yield* a.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.seconds(120))
      yield* eventually(b.active, "B runs")
    })
  )

  it.scoped("conditions only apply with more than one available synchronizer", () =>
    Effect.gen(function* () {
      const only = yield* T.synchronizer("only")
      const log = yield* events
      yield* T.dataSystem(() => T.sources([], [only]), streaming, {}, log.observer)
      yield* eventually(only.active, "runs")
      yield* only.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.hours(2))
      yield* settle
      expect(yield* only.runs).toBe(1)
      expect(yield* log.tags).not.toContain("FallbackFired")
    })
  )
})

describe("Orchestrator: recovery", () => {
  it.scoped("run-start: back to the primary recoveryTimeout after the non-primary run started", () =>
    Effect.gen(function* () {
      const { a, b, log } = yield* twoSynchronizers({ recoveryStart: "run-start" })
      yield* a.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.seconds(120))
      yield* eventually(b.active, "B runs")
      yield* TestClock.adjust(Duration.seconds(200))
      yield* b.emit(T.full("s1", 1, T.put("x", 1)))
      yield* settle
      yield* TestClock.adjust(Duration.millis(99_999))
      yield* settle
      expect(yield* a.runs).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      yield* eventually(
        Effect.map(a.runs, (n) => n === 2),
        "A runs again"
      )
      expect(yield* log.tags).toContain("RecoveryFired")
    })
  )

  it.scoped("valid-window: the timer starts at the first change set and an interruption cancels it", () =>
    Effect.gen(function* () {
      const { a, b } = yield* twoSynchronizers({ recoveryStart: "valid-window" })
      yield* a.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.seconds(120))
      yield* eventually(b.active, "B runs")
      yield* TestClock.adjust(Duration.seconds(100))
      yield* b.emit(T.full("s1", 1)) // valid from +100 s
      yield* settle
      yield* TestClock.adjust(Duration.seconds(100))
      yield* b.emit(T.interrupted()) // +200 s: the window breaks
      yield* settle
      yield* TestClock.adjust(Duration.seconds(50))
      yield* b.emit(T.partial("s2", 2)) // +250 s: valid again
      yield* settle
      // Run-start would have recovered at +300 s; the valid window started again at +250 s.
      yield* TestClock.adjust(Duration.millis(299_999))
      yield* settle
      expect(yield* a.runs).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      yield* eventually(
        Effect.map(a.runs, (n) => n === 2),
        "A runs again at +550 s"
      )
    })
  )

  it.scoped("a terminal error blocks the slot and recovery never returns to it", () =>
    Effect.gen(function* () {
      const { a, b, log } = yield* twoSynchronizers()
      yield* a.emit(T.terminal())
      yield* eventually(b.active, "B runs")
      yield* b.emit(T.full("s1", 1))
      yield* b.emit(T.interrupted())
      yield* settle
      yield* TestClock.adjust(Duration.hours(3))
      yield* settle
      expect(yield* a.runs).toBe(1)
      expect(yield* b.runs).toBe(1)
      const tags = yield* log.tags
      expect(tags).toContain("SlotBlocked")
      expect(tags).not.toContain("RecoveryFired")
      expect(tags).not.toContain("FallbackFired")
      // A goodbye recycles B, never A.
      yield* b.emit(T.goodbye())
      yield* settle
      yield* TestClock.adjust(Duration.seconds(1))
      yield* eventually(
        Effect.map(b.runs, (n) => n === 2),
        "B runs again"
      )
      expect(yield* a.runs).toBe(1)
    })
  )
})

describe("Orchestrator: recycle", () => {
  it.scoped("ten goodbyes take at least nine recycle delays (no tight loop)", () =>
    Effect.gen(function* () {
      const parting = yield* T.synchronizer("parting", "fdv2", [T.goodbye()])
      yield* T.dataSystem(() => T.sources([], [parting]), streaming)
      yield* eventually(
        Effect.map(parting.runs, (n) => n === 1),
        "first run"
      )
      yield* settle
      expect(yield* parting.runs).toBe(1)
      for (let run = 2; run <= 10; run++) {
        yield* TestClock.adjust(Duration.millis(999))
        yield* settle
        expect(yield* parting.runs).toBe(run - 1)
        yield* TestClock.adjust(Duration.millis(1))
        yield* eventually(
          Effect.map(parting.runs, (n) => n === run),
          `run ${run}`
        )
      }
    })
  )

  it.scoped("invalid data and an unexpected end of stream recycle the same slot", () =>
    Effect.gen(function* () {
      const { a, b } = yield* twoSynchronizers()
      yield* a.emit(Source.Result.Recycle({ reason: "invalid-data" }))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(1))
      yield* eventually(
        Effect.map(a.runs, (n) => n === 2),
        "A again"
      )
      yield* a.emit(Source.Result.Recycle({ reason: "end-of-stream" }))
      yield* settle
      yield* TestClock.adjust(Duration.seconds(1))
      yield* eventually(
        Effect.map(a.runs, (n) => n === 3),
        "A again"
      )
      expect(yield* b.runs).toBe(0)
    })
  )
})

describe("Orchestrator: FDv1 fallback directive", () => {
  it.scoped("engages the FDv1 tier one way, after applying the payload it came with", () =>
    Effect.gen(function* () {
      const a = yield* T.synchronizer("A")
      const fdv1 = yield* T.synchronizer("fdv1", "fdv1")
      const log = yield* events
      const system = yield* T.dataSystem(() => T.sources([], [a, fdv1]), streaming, {}, log.observer)
      yield* eventually(a.active, "A runs")
      expect(yield* fdv1.runs).toBe(0) // FDv1 slots start blocked
      yield* a.emit(T.full("s1", 1, T.put("with-directive", 1)))
      yield* a.emit(Source.Result.Fdv1Fallback({ directive: FallbackDirective.make(60) }))
      yield* eventually(fdv1.active, "FDv1 runs")
      expect(yield* flagsOf(system)).toEqual({ "with-directive": { value: true } })
      // The FDv1 source re-asserting the directive is ignored; FDv2 never comes back.
      yield* fdv1.emit(Source.Result.Fdv1Fallback({ directive: FallbackDirective.make(0) }))
      yield* settle
      yield* TestClock.adjust(Duration.hours(2))
      yield* settle
      expect(yield* a.runs).toBe(1)
      const tags = yield* log.tags
      expect(tags.filter((tag) => tag === "Fdv1Engaged")).toHaveLength(1)
      expect(tags).toContain("DirectiveIgnored")
    })
  )

  it.scoped("no FDv1 tier, TTL absent: the same slot runs again after the default hour", () =>
    Effect.gen(function* () {
      const a = yield* T.synchronizer("A")
      yield* T.dataSystem(() => T.sources([], [a]), streaming)
      yield* eventually(a.active, "A runs")
      yield* a.emit(Source.Result.Fdv1Fallback({ directive: FallbackDirective.make(undefined) }))
      yield* settle
      yield* TestClock.adjust(Duration.minutes(59))
      yield* settle
      expect(yield* a.runs).toBe(1)
      yield* TestClock.adjust(Duration.minutes(1))
      yield* eventually(
        Effect.map(a.runs, (n) => n === 2),
        "A again after 1 h"
      )
    })
  )

  it.scoped("no FDv1 tier, TTL 0 or negative: updates pause, the system does not halt", () =>
    Effect.gen(function* () {
      for (const ttl of [0, -30]) {
        const a = yield* T.synchronizer("A")
        const log = yield* events
        const system = yield* T.dataSystem(() => T.sources([], [a]), streaming, {}, log.observer)
        yield* eventually(a.active, "A runs")
        yield* a.emit(T.full("s1", 1))
        yield* a.emit(Source.Result.Fdv1Fallback({ directive: FallbackDirective.make(ttl) }))
        yield* eventually(
          Effect.map(log.tags, (tags) => tags.includes("Paused")),
          "paused"
        )
        yield* TestClock.adjust(Duration.hours(24))
        yield* settle
        expect(yield* a.runs).toBe(1)
        expect((yield* system.status.get).state).toBe("valid")
        expect(yield* log.tags).not.toContain("Exhausted")
      }
    })
  )
})

describe("Orchestrator: halting and initialization", () => {
  it.scoped("exhaustion before data: exactly one shutdown status and a pending wait fails", () =>
    Effect.gen(function* () {
      const init = yield* T.initializer("polling", T.interrupted())
      const a = yield* T.synchronizer("A")
      const b = yield* T.synchronizer("B")
      const system = yield* T.dataSystem(() => T.sources([init], [a, b]), streaming)
      const statuses = yield* system.status.changes.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      const waiting = yield* Effect.fork(system.waitForInitialization)
      yield* eventually(a.active, "A runs")
      yield* a.emit(T.terminal())
      yield* eventually(b.active, "B runs")
      yield* b.emit(T.terminal())
      const exit = yield* Fiber.await(waiting)
      expect(Exit.isFailure(exit)).toBe(true)
      expect(String(exit)).toContain("DataSystemHaltedError")
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(statuses))
      expect(seen.map((status) => status.state)).toEqual(["initializing", "initializing", "shutdown"])
      expect(seen[2]?.error?.category).toBe("sources-exhausted")
      yield* TestClock.adjust(Duration.hours(1))
      yield* settle
      expect((yield* system.status.get).state).toBe("shutdown")
      expect(yield* system.isInitialized).toBe(false)
    })
  )

  it.scoped("exhaustion after data: a warning only, initialized stays", () =>
    Effect.gen(function* () {
      const a = yield* T.synchronizer("A")
      const log = yield* events
      const system = yield* T.dataSystem(() => T.sources([], [a]), streaming, {}, log.observer)
      yield* eventually(a.active, "A runs")
      yield* a.emit(T.full("s1", 1, T.put("kept", 1)))
      yield* a.emit(T.terminal())
      yield* eventually(
        Effect.map(log.tags, (tags) => tags.includes("Exhausted")),
        "exhausted"
      )
      yield* system.waitForInitialization
      expect((yield* system.status.get).state).toBe("interrupted")
      expect(yield* flagsOf(system)).toEqual({ kept: { value: true } })
      expect((yield* log.all).find((event) => event._tag === "Exhausted")).toEqual(
        Orchestrator.Event.Exhausted({ afterData: true })
      )
    })
  )

  it.effect("initialized is signalled at most once", () =>
    Effect.gen(function* () {
      const count = yield* Ref.make(0)
      const store = yield* Ref.make(Store.empty)
      const init = yield* T.initializer("polling", T.full("s1", 1))
      const a = yield* T.synchronizer("A", "fdv2", [T.partial("s2", 2), T.partial("s3", 3), T.goodbye()])
      const sink: Orchestrator.Sink = {
        selector: Effect.succeed(Selector.empty),
        apply: (changeSet) => Ref.update(store, (held) => Store.apply(held, changeSet).store),
        report: () => Effect.void,
        initialized: Ref.update(count, (n) => n + 1),
        hasData: Effect.succeed(true),
        halt: () => Effect.void
      }
      const running = yield* Effect.fork(Orchestrator.run(T.sources([init], [a]), sink))
      yield* eventually(
        Effect.map(a.runs, (n) => n === 1),
        "A runs"
      )
      yield* TestClock.adjust(Duration.seconds(5))
      yield* eventually(
        Effect.map(a.runs, (n) => n >= 5),
        "A recycled many times"
      )
      expect(yield* Ref.get(count)).toBe(1)
      yield* Fiber.interrupt(running)
    })
  )

  it.scoped("cache-only: cached data initializes the system, then exhaustion only warns", () =>
    Effect.gen(function* () {
      const cache = yield* T.initializer("cache", T.full("", 0, T.put("cached", 3)))
      const log = yield* events
      const system = yield* T.dataSystem(() => T.sources([cache], []), streaming, {}, log.observer)
      yield* system.waitForInitialization
      yield* eventually(
        Effect.map(log.tags, (tags) => tags.includes("Exhausted")),
        "exhausted"
      )
      expect(yield* flagsOf(system)).toEqual({ cached: { value: true } })
      expect((yield* system.status.get).state).toBe("valid")
      expect(Option.map(yield* system.lastOrigin, (origin) => origin.name)).toEqual(Option.some("cache"))
    })
  )

  it.scoped("cache-only with no cache file: exhaustion before data halts", () =>
    Effect.gen(function* () {
      const cache = yield* T.initializer("cache", T.interrupted("no cache file yet"))
      const system = yield* T.dataSystem(() => T.sources([cache], []), streaming)
      const exit = yield* Effect.exit(system.waitForInitialization)
      expect(Exit.isFailure(exit)).toBe(true)
      expect((yield* system.status.get).state).toBe("shutdown")
    })
  )

  it.scoped("no sources at all: initialized at once", () =>
    Effect.gen(function* () {
      const system = yield* T.dataSystem(() => T.sources([], []), streaming)
      yield* system.waitForInitialization
      expect((yield* system.status.get).state).toBe("valid")
    })
  )

  it.scoped("offline mode: the cache runs, the system is initialized and reports offline", () =>
    Effect.gen(function* () {
      const cache = yield* T.initializer("cache", T.interrupted("no cache file yet"))
      const system = yield* T.dataSystem(() => T.sources([cache], []), ModeResolution.to("offline"))
      yield* system.waitForInitialization
      const status = yield* system.status.get
      expect([status.state, status.offlineDetail]).toEqual(["offline", "setOffline"])
    })
  )
})

describe("Orchestrator: status", () => {
  it.scoped("never interrupted right after initializing; identical statuses are not repeated", () =>
    Effect.gen(function* () {
      const a = yield* T.synchronizer("A")
      const system = yield* T.dataSystem(() => T.sources([], [a]), streaming)
      const statuses = yield* system.status.changes.pipe(Stream.take(5), Stream.runCollect, Effect.fork)
      yield* eventually(a.active, "A runs")
      yield* a.emit(T.interrupted("refused"))
      yield* a.emit(T.interrupted("refused"))
      yield* a.emit(T.full("s1", 1))
      yield* a.emit(T.partial("s2", 2))
      yield* a.emit(T.interrupted("refused"))
      yield* a.emit(T.interrupted("refused"))
      yield* a.emit(T.partial("s3", 3))
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(statuses))
      expect(seen.map((status) => [status.state, status.error?.message])).toEqual([
        ["initializing", undefined],
        ["initializing", "refused"],
        ["valid", undefined],
        ["interrupted", "refused"],
        ["valid", undefined]
      ])
    })
  )

  it.scoped("a source that dies is reported by category, never by its raw message", () =>
    Effect.gen(function* () {
      const dying: Source.Synchronizer = {
        name: "dying",
        protocol: "fdv2",
        run: () => Stream.die(new Error("GET https://example.com/sdk?key=sdk-secret failed"))
      }
      const other = yield* T.synchronizer("other")
      const system = yield* DataSystem.make({
        sources: () => Effect.succeed({ initializers: [], synchronizers: [dying, other.synchronizer] }),
        initialMode: streaming
      })
      yield* eventually(
        Effect.map(system.status.get, (status) => status.error !== undefined),
        "the failure is reported"
      )
      const status = yield* system.status.get
      expect(status.error?.category).toBe("unknown")
      expect(JSON.stringify(status)).not.toContain("sdk-secret")
    })
  )

  it.effect("closing the data system's scope stops its run and reports closed, once and for good", () =>
    Effect.gen(function* () {
      const a = yield* T.synchronizer("A")
      const scope = yield* Scope.make()
      const system = yield* T.dataSystem(() => T.sources([], [a]), streaming).pipe(Scope.extend(scope))
      yield* eventually(a.active, "A runs")
      yield* a.emit(T.full("s1", 1))
      yield* settle
      yield* Scope.close(scope, Exit.void)
      expect(yield* a.active).toBe(false)
      expect((yield* system.status.get).state).toBe("closed")
      yield* system.switchMode(ModeResolution.to("polling"))
      expect((yield* system.status.get).state).toBe("closed")
      expect(yield* a.runs).toBe(1)
    })
  )

  it("sanitize: closed is final and offline details are distinct statuses", () => {
    const start = DataStatus.initial(0)
    const offline = DataStatus.sanitize(start, { state: "offline", detail: "setOffline" }, 1)
    expect(offline?.state).toBe("offline")
    if (offline === undefined) return
    expect(DataStatus.sanitize(offline, { state: "offline", detail: "setOffline" }, 2)).toBeUndefined()
    expect(
      DataStatus.sanitize(offline, { state: "offline", detail: "networkUnavailable" }, 2)?.offlineDetail
    ).toBe("networkUnavailable")
    const closed = DataStatus.sanitize(offline, { state: "closed" }, 3)
    expect(closed?.state).toBe("closed")
    if (closed === undefined) return
    expect(DataStatus.sanitize(closed, { state: "valid" }, 4)).toBeUndefined()
  })
})

describe("Orchestrator: runs and modes", () => {
  it.scoped("each synchronizer run releases what it started: fibers alive stay constant over many runs", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor.track
      const parting = yield* T.synchronizer("parting", "fdv2", [
        T.partial("s", 1, T.put("x", 1)),
        T.goodbye()
      ])
      const other = yield* T.synchronizer("other")
      yield* T.dataSystem(() => T.sources([], [parting, other]), streaming).pipe(
        Effect.supervised(supervisor)
      )
      const runsReach = (count: number) =>
        Effect.gen(function* () {
          while ((yield* parting.runs) < count) {
            yield* TestClock.adjust(Duration.seconds(1))
            yield* settle
          }
        })
      yield* runsReach(10)
      const alive = (yield* supervisor.value).length
      yield* runsReach(60)
      expect((yield* supervisor.value).length).toBe(alive)
    })
  )

  it.scoped("a switch to the mode running now is a no-op; another mode restarts with the selector kept", () =>
    Effect.gen(function* () {
      const stream = yield* T.synchronizer("streaming")
      const poll = yield* T.synchronizer("polling")
      const system = yield* T.dataSystem(
        (mode) => T.sources([], [mode === "polling" ? poll : stream]),
        streaming
      )
      yield* eventually(stream.active, "streaming runs")
      yield* stream.emit(T.full("s1", 1, T.put("a", 1)))
      yield* settle
      yield* system.switchMode(ModeResolution.to("streaming"))
      yield* settle
      expect(yield* stream.runs).toBe(1)
      expect(yield* stream.active).toBe(true)
      yield* system.switchMode(ModeResolution.to("polling"))
      yield* eventually(poll.active, "polling runs")
      expect(yield* stream.active).toBe(false)
      expect(yield* poll.bases).toEqual([Selector.make("s1", 1)])
      yield* system.switchMode(ModeResolution.offline("networkUnavailable"))
      yield* settle
      const status = yield* system.status.get
      expect([status.state, status.offlineDetail]).toEqual(["offline", "networkUnavailable"])
      expect(yield* poll.active).toBe(false)
      expect(yield* flagsOf(system)).toEqual({ a: { value: true } })
    })
  )
})
