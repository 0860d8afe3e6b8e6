import { describe, expect, it } from "@effect/vitest"
import {
  Cause,
  Clock,
  Context,
  Data,
  DefaultServices,
  Duration,
  Effect,
  Exit,
  Fiber,
  Metric,
  Option,
  Queue,
  Ref,
  Scope,
  Stream,
  TestClock,
  Tracer
} from "effect"
import * as Controller from "../src/Controller.js"
import * as LeaderGate from "../src/LeaderGate.js"
import * as Metrics from "../src/Metrics.js"
import type { Observer } from "../src/Observer.js"
import * as Outcome from "../src/Outcome.js"
import * as Reconciler from "../src/Reconciler.js"
import * as RetryPolicy from "../src/RetryPolicy.js"

class Unavailable extends Data.TaggedError("Unavailable") {}
class Invalid extends Data.TaggedError("Invalid") {}

let controllers = 0
const uniqueName = () => `test-controller-${controllers++}`

type Options<E> = Omit<Controller.Options<string, E, never>, "name"> & { readonly name?: string }

/** Starts a controller that always leads, in the test's scope. */
const start = <E>(options: Options<E>) =>
  Controller.make({ name: uniqueName(), ...options }).pipe(Effect.provide(LeaderGate.always))

/** Records every run as `key@millis` (test clock time when it started). */
const makeRuns = Effect.map(Ref.make<ReadonlyArray<string>>([]), (runs) => ({
  record: (key: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => Ref.update(runs, (all) => [...all, `${key}@${at}`])),
  all: Ref.get(runs),
  count: (key: string) =>
    Effect.map(Ref.get(runs), (all) => all.filter((run) => run.startsWith(`${key}@`)).length)
}))

/** An observer that keeps every event. */
const makeEvents = Effect.map(
  Ref.make<ReadonlyArray<Controller.ControllerEvent<string, unknown>>>([]),
  (events) => {
    const observer: Observer<Controller.ControllerEvent<string, unknown>> = {
      notify: (event) => Ref.update(events, (all) => [...all, event])
    }
    return { observer, all: Ref.get(events) }
  }
)

type Event = Controller.ControllerEvent<string, unknown>

/** The events of one kind, in order. */
const ofTag = <Tag extends Event["_tag"]>(events: ReadonlyArray<Event>, tag: Tag) =>
  events.filter((event): event is Extract<Event, { readonly _tag: Tag }> => event._tag === tag)

const reconcileCount = (controller: string, result: string) =>
  Effect.map(
    Metric.value(
      Metric.tagged(Metric.tagged(Metrics.reconcileTotal, "controller", controller), "result", result)
    ),
    (state) => state.count
  )

const errorCount = (controller: string) =>
  Effect.map(
    Metric.value(Metric.tagged(Metrics.reconcileErrorsTotal, "controller", controller)),
    (state) => state.count
  )

describe("Controller", () => {
  it.scoped("reconciles every enqueued key once with a Reconciler; awaitIdle waits for them", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const reconciler = Reconciler.make((key: string) => Effect.as(runs.record(key), Outcome.done))
      const controller = yield* start({ reconcile: reconciler })
      yield* controller.enqueueAll(["a", "b", "c"])
      yield* controller.enqueue("a")
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual(["a@0", "b@0", "c@0"])
      expect(yield* reconcileCount(controller.name, "success")).toBe(3)
    })
  )

  it.scoped("runs at most `concurrency` keys at once", () =>
    Effect.gen(function* () {
      const latch = yield* Effect.makeLatch(false)
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const controller = yield* start({
        concurrency: 3,
        reconcile: () =>
          Effect.gen(function* () {
            const now = yield* Ref.updateAndGet(running, (n) => n + 1)
            yield* Ref.update(peak, (p) => Math.max(p, now))
            yield* latch.await
            yield* Ref.update(running, (n) => n - 1)
            return Outcome.done
          })
      })
      yield* controller.enqueueAll(Array.from({ length: 10 }, (_, i) => `key-${i}`))
      yield* TestClock.adjust(0)
      expect(yield* Ref.get(running)).toBe(3)
      expect(yield* controller.inFlight).toBe(3)
      expect(yield* controller.depth).toBe(7)
      yield* latch.open
      yield* controller.awaitIdle
      expect(yield* Ref.get(peak)).toBe(3)
      expect(yield* reconcileCount(controller.name, "success")).toBe(10)
    })
  )

  it.scoped("a key enqueued while it runs runs again afterwards, never concurrently", () =>
    Effect.gen(function* () {
      const latch = yield* Effect.makeLatch(false)
      const running = yield* Ref.make(0)
      const peak = yield* Ref.make(0)
      const runs = yield* makeRuns
      const controller = yield* start({
        concurrency: 4,
        reconcile: (key) =>
          Effect.gen(function* () {
            yield* runs.record(key)
            const now = yield* Ref.updateAndGet(running, (n) => n + 1)
            yield* Ref.update(peak, (p) => Math.max(p, now))
            yield* latch.await
            yield* Ref.update(running, (n) => n - 1)
            return Outcome.done
          })
      })
      yield* controller.enqueue("a")
      yield* TestClock.adjust(0)
      yield* controller.enqueue("a")
      yield* controller.enqueue("a")
      yield* TestClock.adjust(0)
      expect(yield* runs.count("a")).toBe(1)
      expect(yield* controller.inFlight).toBe(1)
      yield* latch.open
      yield* controller.awaitIdle
      expect(yield* runs.count("a")).toBe(2)
      expect(yield* Ref.get(peak)).toBe(1)
    })
  )

  it.scoped("retries a failing key by the policy's delays and starts over after a success", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const failuresLeft = yield* Ref.make(3)
      const controller = yield* start({
        rateLimit: false,
        reconcile: (key) =>
          Effect.zipRight(
            runs.record(key),
            Effect.flatMap(
              Ref.getAndUpdate(failuresLeft, (n) => n - 1),
              (left) => (left > 0 ? Effect.fail(new Unavailable()) : Effect.succeed(Outcome.done))
            )
          )
      })
      yield* controller.enqueue("a")
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* runs.all).toEqual(["a@0", "a@5", "a@15", "a@35"])
      expect(yield* reconcileCount(controller.name, "error")).toBe(3)
      expect(yield* errorCount(controller.name)).toBe(3)

      yield* Ref.set(failuresLeft, 1)
      yield* controller.enqueue("a")
      yield* TestClock.adjust(Duration.seconds(1))
      expect((yield* runs.all).slice(4)).toEqual(["a@1000", "a@1005"])
    })
  )

  it.scoped("does not retry a Terminal or nonRetryable failure, but counts and reports it", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const events = yield* makeEvents
      const controller = yield* start<Reconciler.Terminal | Invalid>({
        retryPolicy: new RetryPolicy.RetryPolicy({ ...RetryPolicy.controller, nonRetryable: ["Invalid"] }),
        observer: events.observer,
        reconcile: (key) =>
          Effect.zipRight(
            runs.record(key),
            Effect.fail<Reconciler.Terminal | Invalid>(
              key === "gone" ? new Reconciler.Terminal({ message: "gone for good" }) : new Invalid()
            )
          )
      })
      yield* controller.enqueueAll(["gone", "invalid"])
      yield* TestClock.adjust(Duration.hours(1))
      expect(yield* runs.all).toEqual(["gone@0", "invalid@0"])
      expect(yield* reconcileCount(controller.name, "terminal")).toBe(2)
      expect(yield* reconcileCount(controller.name, "error")).toBe(0)
      expect(yield* errorCount(controller.name)).toBe(2)
      const terminal = ofTag(yield* events.all, "ReconcileTerminal")
      expect(terminal.map((event) => [event.key, Cause.squash(event.cause)])).toEqual([
        ["gone", new Reconciler.Terminal({ message: "gone for good" })],
        ["invalid", new Invalid()]
      ])
    })
  )

  it.scoped("requeues a RequeueAfter outcome at exactly that delay, not a tick earlier", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const controller = yield* start({
        reconcile: (key) =>
          Effect.flatMap(runs.record(key), () =>
            Effect.map(runs.count(key), (count) =>
              count === 1 ? Outcome.requeueAfter("10 seconds") : Outcome.done
            )
          )
      })
      yield* controller.enqueue("poll")
      yield* controller.awaitIdle
      expect(yield* controller.depth).toBe(1)
      yield* TestClock.adjust(Duration.millis(9_999))
      yield* controller.awaitIdle
      expect(yield* runs.count("poll")).toBe(1)
      yield* TestClock.adjust(Duration.millis(1))
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual(["poll@0", "poll@10000"])
      expect(yield* reconcileCount(controller.name, "requeue_after")).toBe(1)
      expect(yield* reconcileCount(controller.name, "success")).toBe(1)
    })
  )

  it.scoped("resync enqueues every listed key at start and then every period", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const listed = yield* Ref.make(["a", "b"])
      const controller = yield* start({
        resync: { every: "1 minute", keys: Ref.get(listed) },
        reconcile: (key) => Effect.as(runs.record(key), Outcome.done)
      })
      yield* TestClock.adjust(0)
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual(["a@0", "b@0"])
      yield* Ref.set(listed, ["a", "b", "c"])
      yield* TestClock.adjust(Duration.minutes(1))
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual(["a@0", "b@0", "a@60000", "b@60000", "c@60000"])
    })
  )

  it.scoped("resync with atStart false lists its keys first after one period", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const controller = yield* start({
        resync: { every: "1 minute", keys: Effect.succeed(["a"]), atStart: false },
        reconcile: (key) => Effect.as(runs.record(key), Outcome.done)
      })
      yield* TestClock.adjust(Duration.seconds(59))
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual([])
      yield* TestClock.adjust(Duration.seconds(1))
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual(["a@60000"])
      yield* TestClock.adjust(Duration.minutes(1))
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual(["a@60000", "a@120000"])
    })
  )

  it.scoped("enqueues every element of its trigger streams", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const changes = yield* Queue.unbounded<string>()
      const controller = yield* start({
        triggers: [Stream.fromQueue(changes), Stream.make("from-start")],
        reconcile: (key) => Effect.as(runs.record(key), Outcome.done)
      })
      yield* Queue.offerAll(changes, ["x", "y"])
      yield* TestClock.adjust(0)
      yield* controller.awaitIdle
      expect([...(yield* runs.all)].sort()).toEqual(["from-start@0", "x@0", "y@0"])
    })
  )

  it.scoped("times out a slow reconcile and retries it like any failure", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const events = yield* makeEvents
      const controller = yield* start({
        reconcileTimeout: "1 second",
        observer: events.observer,
        reconcile: (key) =>
          Effect.flatMap(runs.record(key), () =>
            Effect.flatMap(runs.count(key), (count) =>
              count === 1 ? Effect.as(Effect.sleep("1 minute"), Outcome.done) : Effect.succeed(Outcome.done)
            )
          )
      })
      yield* controller.enqueue("slow")
      yield* TestClock.adjust(Duration.seconds(2))
      expect(yield* runs.all).toEqual(["slow@0", "slow@1005"])
      const failed = ofTag(yield* events.all, "ReconcileFailed")
      expect(failed.map((event) => [event.attempt, event.retrying, Cause.squash(event.cause)])).toEqual([
        [1, true, new Controller.ReconcileTimeout({ timeout: Duration.seconds(1) })]
      ])
    })
  )

  it.scoped("reports each reconcile to its observer; gives up after maxAttempts", () =>
    Effect.gen(function* () {
      const events = yield* makeEvents
      const controller = yield* start({
        retryPolicy: new RetryPolicy.RetryPolicy({ ...RetryPolicy.controller, maxAttempts: 2 }),
        rateLimit: false,
        observer: events.observer,
        reconcile: (key) =>
          key === "ok" ? Effect.succeed(Outcome.awaitChange) : Effect.fail(new Unavailable())
      })
      yield* controller.enqueueAll(["ok", "down"])
      yield* TestClock.adjust(Duration.seconds(1))
      const summary = (yield* events.all).map((event) =>
        Controller.ControllerEvent.$match(event, {
          ReconcileSucceeded: (e) => `${e.key} succeeded ${e.outcome._tag}`,
          ReconcileFailed: (e) =>
            `${e.key} failed attempt ${e.attempt} ${
              e.retrying ? `retry in ${Duration.toMillis(Option.getOrThrow(e.retryIn))} ms` : "giving up"
            }`,
          ReconcileTerminal: (e) => `${e.key} terminal`,
          LeadershipChanged: (e) => `leader ${e.leader}`
        })
      )
      expect(summary).toEqual([
        "leader true",
        "ok succeeded AwaitChange",
        "down failed attempt 1 retry in 5 ms",
        "down failed attempt 2 giving up"
      ])
      expect(yield* controller.depth).toBe(0)
    })
  )

  it.scoped("wraps each reconcile in a converge.reconcile span when a tracer is installed", () =>
    Effect.gen(function* () {
      const builtIn = Context.get(DefaultServices.liveServices, Tracer.Tracer)
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (...args) => {
          const span = builtIn.span(...args)
          spans.push(span)
          return span
        },
        context: (f, fiber) => builtIn.context(f, fiber)
      })
      const parents: Array<string> = []
      const controller = yield* Effect.withTracer(
        start({
          reconcile: () =>
            Effect.as(
              Effect.flatMap(Effect.currentSpan, (span) => Effect.sync(() => parents.push(span.name))),
              Outcome.done
            )
        }),
        recording
      )
      yield* controller.enqueueAll(["a", "b"])
      yield* controller.awaitIdle
      const reconcileSpans = spans.filter((span) => span.name === "converge.reconcile")
      expect(reconcileSpans.map((span) => span.attributes.get("key"))).toEqual(["a", "b"])
      expect(reconcileSpans.every((span) => span.attributes.get("controller") === controller.name)).toBe(true)
      expect(reconcileSpans.every((span) => span.status._tag === "Ended")).toBe(true)
      expect(parents).toEqual(["converge.reconcile", "converge.reconcile"])
    })
  )

  it.scoped("awaitIdle waits until the observer has heard about every run", () =>
    Effect.gen(function* () {
      const heard = yield* Ref.make<ReadonlyArray<string>>([])
      const slowObserver: Observer<Controller.ControllerEvent<string, unknown>> = {
        notify: (event) =>
          event._tag === "ReconcileSucceeded"
            ? Effect.zipRight(
                Effect.repeatN(Effect.yieldNow(), 20),
                Ref.update(heard, (all) => [...all, event.key])
              )
            : Effect.void
      }
      const controller = yield* start({
        observer: slowObserver,
        reconcile: () => Effect.succeed(Outcome.done)
      })
      yield* controller.enqueueAll(["a", "b"])
      yield* controller.awaitIdle
      expect(yield* Ref.get(heard)).toEqual(["a", "b"])
    })
  )

  it.scoped("keeps reconciling when its observer dies", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const controller = yield* start({
        observer: { notify: () => Effect.dieMessage("observer bug") },
        reconcile: (key) => Effect.as(runs.record(key), Outcome.done)
      })
      yield* controller.enqueueAll(["a", "b", "c"])
      yield* controller.awaitIdle
      expect(yield* runs.all).toEqual(["a@0", "b@0", "c@0"])
    })
  )

  it.scoped("retries a reconcile that dies (a defect) like a failure", () =>
    Effect.gen(function* () {
      const runs = yield* makeRuns
      const controller = yield* start({
        reconcile: (key) =>
          Effect.flatMap(runs.record(key), () =>
            Effect.flatMap(runs.count(key), (count) =>
              count === 1 ? Effect.dieMessage("bug") : Effect.succeed(Outcome.done)
            )
          )
      })
      yield* controller.enqueue("a")
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* runs.all).toEqual(["a@0", "a@5"])
      expect(yield* errorCount(controller.name)).toBe(1)
    })
  )

  it.scoped("rejects a concurrency that is not a positive integer", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        start({ concurrency: 0, reconcile: () => Effect.succeed(Outcome.done) })
      )
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain(
        "concurrency must be a positive integer"
      )
    })
  )

  describe("shutdown", () => {
    it.effect("lets in-flight work finish within the grace period and drops waiting work", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const latch = yield* Effect.makeLatch(false)
        const runs = yield* makeRuns
        const finished = yield* Ref.make<ReadonlyArray<string>>([])
        const controller = yield* Scope.extend(
          start({
            reconcile: (key) =>
              Effect.gen(function* () {
                yield* runs.record(key)
                yield* latch.await
                yield* Ref.update(finished, (all) => [...all, key])
                return Outcome.done
              })
          }),
          scope
        )
        yield* controller.enqueueAll(["in-flight", "waiting-1", "waiting-2"])
        yield* TestClock.adjust(0)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust(Duration.seconds(10))
        expect(yield* Fiber.poll(closing)).toEqual(Option.none())
        yield* latch.open
        yield* Fiber.join(closing)
        expect(yield* Ref.get(finished)).toEqual(["in-flight"])
        expect(yield* runs.all).toEqual(["in-flight@0"])
        yield* controller.enqueue("after-close")
        expect(yield* controller.depth).toBe(0)
      })
    )

    it.effect("interrupts in-flight work once the grace period is over", () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const interrupted = yield* Ref.make(false)
        const controller = yield* Scope.extend(
          start({
            shutdownGracePeriod: "30 seconds",
            reconcile: () => Effect.onInterrupt(Effect.never, () => Ref.set(interrupted, true))
          }),
          scope
        )
        yield* controller.enqueue("stuck")
        yield* TestClock.adjust(0)
        const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
        yield* TestClock.adjust(Duration.millis(29_999))
        expect(yield* Ref.get(interrupted)).toBe(false)
        yield* TestClock.adjust(Duration.millis(1))
        yield* Fiber.join(closing)
        expect(yield* Ref.get(interrupted)).toBe(true)
        expect(yield* controller.inFlight).toBe(0)
      })
    )
  })
})
