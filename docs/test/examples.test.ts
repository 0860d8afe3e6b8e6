/**
 * Runs the in-memory examples of the documentation and checks what their pages claim. Time runs
 * on `TestClock`; nothing here sleeps for real.
 */
import { LeaderGate, RetryPolicy } from "@converge/core"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Exit, Fiber, Layer, Metric, Option, Ref, Schema, TestClock } from "effect"
import * as Backoff from "../examples/backoff.js"
import * as ControllerTriggers from "../examples/controller-triggers.js"
import * as ConnectionMode from "../examples/debouncer.js"
import * as FirstController from "../examples/first-controller.js"
import * as KeyedDebouncer from "../examples/keyed-debouncer.js"
import * as LeaderGateExample from "../examples/leader-gate.js"
import * as MetricsExample from "../examples/metrics.js"
import * as ObserverFanOut from "../examples/observer-fanout.js"
import * as RetryPolicyExample from "../examples/retry-policy.js"
import * as StatusExample from "../examples/status.js"
import * as SweeperExample from "../examples/sweeper.js"
import * as WorkQueueExample from "../examples/work-queue.js"

const setEntry = <K, V>(ref: Ref.Ref<ReadonlyMap<K, V>>, key: K, value: V) =>
  Ref.update(ref, (map) => new Map(map).set(key, value))

describe("first-controller", () => {
  it.effect("converges actual to desired: creates, resizes and removes services", () =>
    Effect.gen(function* () {
      const actual = yield* FirstController.program
      expect(actual).toEqual(FirstController.desired)
    })
  )
})

describe("work-queue", () => {
  it.scoped("retries a failed upload with backoff and gives up after three runs", () =>
    Effect.gen(function* () {
      const attempts = yield* Ref.make<ReadonlyMap<string, ReadonlyArray<number>>>(new Map())
      const upload = (file: string) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          const previous = (yield* Ref.get(attempts)).get(file) ?? []
          yield* setEntry(attempts, file, [...previous, now])
          const fails = file === "broken.txt" || (file === "flaky.txt" && previous.length < 2)
          if (fails) return yield* new WorkQueueExample.UploadFailed({ file })
        })
      const uploads = yield* WorkQueueExample.start(upload)
      for (const file of ["a.txt", "flaky.txt", "broken.txt"]) yield* uploads.add(file)
      yield* uploads.awaitIdle
      yield* TestClock.adjust("100 millis")
      yield* uploads.awaitIdle
      yield* TestClock.adjust("200 millis")
      yield* uploads.awaitIdle

      expect(yield* uploads.uploaded).toEqual(["a.txt", "flaky.txt"])
      expect(yield* uploads.gaveUp).toEqual(["broken.txt"])
      const tried = yield* Ref.get(attempts)
      expect(tried.get("flaky.txt")).toEqual([0, 100, 300])
      expect(tried.get("broken.txt")).toEqual([0, 100, 300])
      yield* TestClock.adjust("1 hour")
      expect((yield* Ref.get(attempts)).get("broken.txt")).toHaveLength(3)
    })
  )
})

describe("controller-triggers", () => {
  it.scoped("indexes a change announced on the feed, and one whose notification was lost at the resync", () =>
    Effect.gen(function* () {
      const { store, index, changeFeed } = yield* ControllerTriggers.start
      yield* TestClock.adjust(0)

      yield* setEntry(store, "doc-1", "hello")
      yield* changeFeed.offer("doc-1")
      yield* TestClock.adjust(0)
      expect((yield* Ref.get(index)).get("doc-1")).toBe("hello")

      yield* setEntry(store, "doc-2", "never announced")
      yield* TestClock.adjust("9 minutes")
      expect((yield* Ref.get(index)).has("doc-2")).toBe(false)
      yield* TestClock.adjust("1 minute")
      expect((yield* Ref.get(index)).get("doc-2")).toBe("never announced")
    }).pipe(Effect.provide(LeaderGate.always))
  )
})

describe("retry-policy", () => {
  const answers = (script: ReadonlyArray<"busy" | "rejected" | number>) =>
    Effect.gen(function* () {
      const attemptedAt = yield* Ref.make<ReadonlyArray<number>>([])
      const respond = (attempt: number) =>
        Effect.gen(function* () {
          const now = yield* Clock.currentTimeMillis
          yield* Ref.update(attemptedAt, (all) => [...all, now])
          const answer = script[Math.min(attempt, script.length) - 1]
          if (answer === "busy") return yield* new RetryPolicyExample.ServiceBusy({ retryAfterMs: 100 })
          if (answer === "rejected")
            return yield* new RetryPolicyExample.QuoteRejected({ reason: "no such product" })
          return answer ?? 0
        })
      return { respond, attemptedAt: Ref.get(attemptedAt) }
    })

  it.effect("retries a busy service with the configured, jittered delays until it answers", () =>
    Effect.gen(function* () {
      const { respond, attemptedAt } = yield* answers(["busy", "busy", 42])
      const fiber = yield* Effect.fork(RetryPolicyExample.quoteWithRetry(respond))
      yield* TestClock.adjust("1 minute")
      expect(yield* Fiber.join(fiber)).toEqual({ quote: 42, attempts: 3 })
      const [first, second, third] = yield* attemptedAt
      // 20 % "full" jitter: the first wait is 160–200 ms, the second 320–400 ms.
      expect(first).toBe(0)
      expect(second).toBeGreaterThanOrEqual(160)
      expect(second).toBeLessThanOrEqual(200)
      expect(third! - second!).toBeGreaterThanOrEqual(320)
      expect(third! - second!).toBeLessThanOrEqual(400)
    })
  )

  it.effect("never retries a non-retryable error, and gives up after maxAttempts runs", () =>
    Effect.gen(function* () {
      const rejected = yield* answers(["rejected", 42])
      const rejection = yield* Effect.either(RetryPolicyExample.quoteWithRetry(rejected.respond))
      expect(Either.getLeft(rejection).pipe(Option.map((error) => error._tag))).toEqual(
        Option.some("QuoteRejected")
      )
      expect(yield* rejected.attemptedAt).toHaveLength(1)

      const alwaysBusy = yield* answers(["busy"])
      const fiber = yield* Effect.fork(Effect.either(RetryPolicyExample.quoteWithRetry(alwaysBusy.respond)))
      yield* TestClock.adjust("1 minute")
      const gaveUp = yield* Fiber.join(fiber)
      expect(Either.getLeft(gaveUp).pipe(Option.map((error) => error._tag))).toEqual(
        Option.some("ServiceBusy")
      )
      expect(yield* alwaysBusy.attemptedAt).toHaveLength(5)
    })
  )

  it.effect("rejects a bad policy in configuration with an error naming the field", () =>
    Effect.gen(function* () {
      const decode = Schema.decodeUnknown(RetryPolicy.RetryPolicy)
      const error = yield* Effect.flip(
        decode({ ...(RetryPolicyExample.configured as object), initialDelayMs: -1 })
      )
      expect(error.message).toContain("initialDelayMs")
    })
  )

  it("lists the controller preset's first delays", () => {
    expect(RetryPolicyExample.controllerDelaysMs).toEqual([5, 10, 20, 40, 80])
  })
})

describe("backoff", () => {
  it.effect(
    "waits longer after each failure, and starts over after a connection that stayed up a minute",
    () =>
      Effect.gen(function* () {
        const connectedAt = yield* Ref.make<ReadonlyArray<number>>([])
        const connect = (onOpen: Effect.Effect<void>) =>
          Effect.gen(function* () {
            const now = yield* Clock.currentTimeMillis
            const attempt = (yield* Ref.updateAndGet(connectedAt, (all) => [...all, now])).length
            if (attempt <= 3) return yield* new Backoff.Disconnected({ reason: "refused" })
            yield* onOpen
            yield* Effect.sleep(attempt === 4 ? "90 seconds" : "1 hour")
            return yield* new Backoff.Disconnected({ reason: "dropped" })
          })
        yield* Effect.fork(Backoff.stayConnected(connect))
        yield* TestClock.adjust("3 minutes")

        const [t1, t2, t3, t4, t5] = yield* Ref.get(connectedAt)
        const waits = [t2! - t1!, t3! - t2!, t4! - t3!, t5! - (t4! + 90_000)]
        // RetryPolicy.connection: 1 s, 2 s, 4 s… each with up to 50 % taken off; then back to 1 s.
        const bounds = [
          [500, 1_000],
          [1_000, 2_000],
          [2_000, 4_000],
          [500, 1_000]
        ]
        waits.forEach((wait, index) => {
          expect(wait).toBeGreaterThanOrEqual(bounds[index]![0]!)
          expect(wait).toBeLessThanOrEqual(bounds[index]![1]!)
        })
      })
  )
})

describe("debouncer", () => {
  it.scoped("switches mode once, a quiet second after a burst of flapping", () =>
    Effect.gen(function* () {
      const { signals, applied } = yield* ConnectionMode.make
      yield* signals.set("online", false)
      yield* TestClock.adjust("300 millis")
      yield* signals.set("online", true)
      yield* TestClock.adjust("300 millis")
      yield* signals.update({ online: false, foreground: false })
      yield* TestClock.adjust("999 millis")
      expect(yield* applied).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(yield* applied).toEqual(["offline"])
      yield* TestClock.adjust("1 minute")
      expect(yield* applied).toEqual(["offline"])
    })
  )

  it.scoped("still settles after maxWait when the input never goes quiet", () =>
    Effect.gen(function* () {
      const { signals, applied } = yield* ConnectionMode.make
      const flap = Effect.forever(
        Effect.gen(function* () {
          yield* signals.set("foreground", false)
          yield* Effect.sleep("500 millis")
          yield* signals.set("foreground", true)
          yield* Effect.sleep("500 millis")
        })
      )
      yield* Effect.fork(flap)
      yield* TestClock.adjust("9999 millis")
      expect(yield* applied).toEqual([])
      yield* TestClock.adjust("1 millis")
      expect(yield* applied).toHaveLength(1)
    })
  )
})

describe("keyed-debouncer", () => {
  it.scoped("rebuilds each document once after a burst of row changes", () =>
    Effect.gen(function* () {
      const { rowChanged, rebuilds } = yield* KeyedDebouncer.make
      yield* rowChanged("doc-2", 1)
      for (let version = 1; version <= 50; version++) {
        yield* rowChanged("doc-1", version)
        yield* TestClock.adjust("2 millis")
      }
      expect(yield* rebuilds).toEqual([])
      yield* TestClock.adjust("1 second")
      expect([...(yield* rebuilds)].sort()).toEqual(["doc-1", "doc-2"])
    }).pipe(Effect.provide(LeaderGate.always))
  )
})

describe("observer-fanout", () => {
  it.scoped("folds every event into the status and the metric while the webhook keeps failing", () =>
    Effect.gen(function* () {
      const { observer, status } = yield* ObserverFanOut.makeObservers
      yield* ObserverFanOut.copyTable("orders", [100, 200, 50], observer)
      // Delivery runs on the fan-out's own fibers; let them drain.
      yield* TestClock.adjust(0)
      expect(yield* status.get).toEqual({ phase: "done", rowsCopied: 350 })
      expect((yield* Metric.value(ObserverFanOut.rowsCopiedTotal)).count).toBe(350)
      expect(yield* observer.dropped).toEqual([0, 0, 0, 0])
    })
  )
})

describe("status", () => {
  it.effect("carries progress over a restart, is followed through changes, and encodes to JSON", () =>
    Effect.gen(function* () {
      const status = yield* StatusExample.makeStatus
      const done = yield* Effect.fork(StatusExample.awaitDone(status))
      const options = { rows: 1_000, batchSize: 300 }

      const crashed = yield* Effect.exit(StatusExample.backfill(status, { ...options, failAfterBatches: 2 }))
      expect(Exit.isFailure(crashed)).toBe(true)
      expect((yield* status.get).rowsCopied).toBe(600)

      yield* TestClock.adjust("1 minute")
      yield* StatusExample.backfill(status, options)
      expect(Option.map(yield* Fiber.join(done), (final) => final.rowsCopied)).toEqual(Option.some(1_000))
      expect(yield* status.encoded).toEqual({
        phase: "done",
        rowsCopied: 1_000,
        updatedAt: "1970-01-01T00:01:00.000Z"
      })
    })
  )
})

describe("leader-gate", () => {
  it.effect("charges only while leading, resumes with a new term, and refuses a deposed leader's write", () =>
    Effect.gen(function* () {
      const gate = yield* LeaderGate.makeControlled(true)
      const ledger = yield* LeaderGateExample.makeLedger
      yield* Effect.fork(
        LeaderGateExample.billingLoop(ledger).pipe(Effect.provide(Layer.succeed(LeaderGate.LeaderGate, gate)))
      )
      yield* TestClock.adjust("2500 millis")
      expect(yield* ledger.charges).toEqual([
        { invoice: 1, term: 1 },
        { invoice: 2, term: 1 },
        { invoice: 3, term: 1 }
      ])

      yield* gate.setLeader(false)
      yield* TestClock.adjust("10 seconds")
      expect(yield* ledger.charges).toHaveLength(3)

      yield* gate.setLeader(true)
      yield* TestClock.adjust(0)
      expect((yield* ledger.charges).at(-1)).toEqual({ invoice: 4, term: 2 })

      const lateWrite = yield* Effect.flip(ledger.charge(99, 1))
      expect(lateWrite).toMatchObject({ _tag: "StaleLeader", term: 1, highestTerm: 2 })
    })
  )
})

describe("sweeper", () => {
  const jobs = (claimedAtMillis: number): ReadonlyArray<SweeperExample.Job> => [
    { id: "job-1", state: "claimed", claimedAtMillis },
    { id: "job-2", state: "pending" },
    { id: "job-3", state: "finished" }
  ]
  const stateOf = (all: Ref.Ref<ReadonlyArray<SweeperExample.Job>>, id: string) =>
    Effect.map(Ref.get(all), (list) => list.find((job) => job.id === id)?.state)

  it.scoped("releases a claim on the first tick after it is a minute old, only while leading", () =>
    Effect.gen(function* () {
      const gate = yield* LeaderGate.makeControlled(false)
      const all = yield* Ref.make(jobs(0))
      yield* SweeperExample.start(all).pipe(Effect.provide(Layer.succeed(LeaderGate.LeaderGate, gate)))
      yield* TestClock.adjust("5 minutes")
      expect(yield* stateOf(all, "job-1")).toBe("claimed")

      yield* Ref.set(all, jobs(5 * 60_000))
      yield* gate.setLeader(true)
      yield* TestClock.adjust("59 seconds")
      expect(yield* stateOf(all, "job-1")).toBe("claimed")
      yield* TestClock.adjust("1 second")
      expect(yield* stateOf(all, "job-1")).toBe("pending")
    })
  )

  it.effect("sweeps once on demand and returns the report", () =>
    Effect.gen(function* () {
      yield* TestClock.adjust("2 minutes")
      const report = yield* SweeperExample.sweepOnce(yield* Ref.make(jobs(0)))
      expect(report).toEqual({ scanned: 3, released: 1 })
    })
  )
})

describe("metrics", () => {
  it.effect("counts reconciles under the standard names and the app's own metric next to them", () =>
    Effect.gen(function* () {
      const { succeeded, exposition } = yield* MetricsExample.program
      expect(succeeded).toBe(3)
      expect(exposition).toContain('converge_reconcile_total{controller="invoices",result="success"} 3\n')
      expect(exposition).toContain('invoices_sent_total{currency="EUR"} 2\n')
      expect(exposition).toContain('invoices_sent_total{currency="USD"} 1\n')
    })
  )
})
