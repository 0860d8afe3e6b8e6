import { describe, expect, it } from "@effect/vitest"
import { Cause, Data, Duration, Effect, Exit, Fiber, Metric, Option, Random, Scope, TestClock } from "effect"
import * as Metrics from "../src/Metrics.js"
import * as RetryPolicy from "../src/RetryPolicy.js"
import * as WorkQueue from "../src/WorkQueue.js"

let queues = 0
/** A queue with a name of its own, so its metrics start from zero. */
const makeQueue = <K = string>(options: Omit<WorkQueue.Options, "name"> = {}) =>
  WorkQueue.make<K>({ name: `test-queue-${queues++}`, ...options })

/** The key `take` hands out without the clock moving, if any. */
const takeNow = <K>(queue: WorkQueue.WorkQueue<K>) =>
  Effect.gen(function* () {
    const taker = yield* Effect.fork(queue.take)
    yield* TestClock.adjust(0)
    const exit = yield* Fiber.poll(taker)
    if (Option.isNone(exit)) {
      yield* Fiber.interrupt(taker)
      return Option.none<K>()
    }
    return Option.some(yield* exit.value)
  })

describe("WorkQueue", () => {
  it.scoped("holds a waiting key once, whatever the number of adds", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue()
      yield* queue.add("a")
      yield* queue.add("b")
      yield* queue.add("a")
      yield* queue.addAfter("a", "1 minute")
      expect(yield* queue.depth).toBe(2)
      expect(yield* queue.take).toBe("a")
      expect(yield* queue.take).toBe("b")
      expect(yield* takeNow(queue)).toEqual(Option.none())
    })
  )

  it.scoped("keeps the earliest due time of a key added with several delays", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue()
      yield* queue.addAfter("a", "10 seconds")
      yield* queue.addAfter("a", "5 seconds")
      yield* queue.addAfter("a", "20 seconds")
      expect(yield* queue.depth).toBe(1)
      yield* TestClock.adjust(Duration.millis(4_999))
      expect(yield* takeNow(queue)).toEqual(Option.none())
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* takeNow(queue)).toEqual(Option.some("a"))
      yield* queue.done("a")
      yield* TestClock.adjust(Duration.seconds(30))
      expect(yield* takeNow(queue)).toEqual(Option.none())
    })
  )

  it.scoped("an immediate add overtakes a delayed one for the same key", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue()
      yield* queue.addAfter("a", "1 hour")
      yield* queue.add("a")
      expect(yield* takeNow(queue)).toEqual(Option.some("a"))
      expect(yield* queue.depth).toBe(0)
    })
  )

  it.scoped("never hands out a key being processed; an add meanwhile re-queues it on done", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue()
      yield* queue.add("a")
      expect(yield* queue.take).toBe("a")
      yield* queue.add("a")
      yield* queue.add("a")
      expect(yield* queue.depth).toBe(0)
      const waiting = yield* Effect.fork(queue.take)
      yield* TestClock.adjust(0)
      expect(yield* Fiber.poll(waiting)).toEqual(Option.none())
      yield* queue.done("a")
      expect(yield* Fiber.join(waiting)).toBe("a")
      yield* queue.done("a")
      expect(yield* takeNow(queue)).toEqual(Option.none())
    })
  )

  it.scoped("a delayed add while processing waits for its due time after done", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue()
      yield* queue.add("a")
      yield* queue.take
      yield* queue.addAfter("a", "2 seconds")
      yield* queue.done("a")
      expect(yield* queue.depth).toBe(1)
      yield* TestClock.adjust(Duration.millis(1_999))
      expect(yield* takeNow(queue)).toEqual(Option.none())
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* takeNow(queue)).toEqual(Option.some("a"))
    })
  )

  it.scoped("compares keys with Equal, so Data structs work as keys", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue<{ readonly group: string; readonly id: number }>()
      yield* queue.add(Data.struct({ group: "g", id: 1 }))
      yield* queue.add(Data.struct({ group: "g", id: 1 }))
      yield* queue.add(Data.struct({ group: "g", id: 2 }))
      expect(yield* queue.depth).toBe(2)
      const first = yield* queue.take
      yield* queue.add(Data.struct({ group: "g", id: 1 }))
      expect(yield* queue.depth).toBe(1)
      yield* queue.done(first)
      expect(yield* queue.depth).toBe(2)
    })
  )

  it.scoped("backs a failing key off by the policy and starts over after forget", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue({ rateLimit: false })
      const delays: Array<number> = []
      yield* queue.add("a")
      for (let failure = 0; failure < 5; failure++) {
        yield* TestClock.adjust(Duration.hours(1))
        expect(yield* queue.take).toBe("a")
        const retry = yield* queue.addRateLimited("a")
        delays.push(Duration.toMillis(Option.getOrThrow(retry).delay))
        yield* queue.done("a")
      }
      expect(delays).toEqual([5, 10, 20, 40, 80])
      expect(yield* queue.failures("a")).toBe(5)

      yield* TestClock.adjust(Duration.millis(79))
      expect(yield* takeNow(queue)).toEqual(Option.none())
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* takeNow(queue)).toEqual(Option.some("a"))
      yield* queue.forget("a")
      const retry = yield* queue.addRateLimited("a")
      expect(Option.map(retry, (r) => Duration.toMillis(r.delay))).toEqual(Option.some(5))
    })
  )

  it.scoped("gives up on a key once the policy's attempts are used, and forgets it", () =>
    Effect.gen(function* () {
      const policy = new RetryPolicy.RetryPolicy({ ...RetryPolicy.controller, maxAttempts: 3 })
      const queue = yield* makeQueue({ retryPolicy: policy, rateLimit: false })
      expect(Option.isSome(yield* queue.addRateLimited("a"))).toBe(true)
      expect(Option.isSome(yield* queue.addRateLimited("a"))).toBe(true)
      expect(yield* queue.addRateLimited("a")).toEqual(Option.none())
      expect(yield* queue.failures("a")).toBe(0)
    })
  )

  it.scoped("throttles rate-limited re-adds with the token bucket, never plain adds", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue({ rateLimit: { perSecond: 2, burst: 2 } })
      for (let key = 0; key < 50; key++) yield* queue.add(`plain-${key}`)
      for (let key = 0; key < 50; key++) expect(Option.isSome(yield* takeNow(queue))).toBe(true)

      const waits: Array<number> = []
      for (let key = 0; key < 4; key++) {
        const retry = yield* queue.addRateLimited(`failing-${key}`)
        waits.push(Duration.toMillis(Option.getOrThrow(retry).delay))
      }
      expect(waits).toEqual([5, 5, 500, 1_000])
    })
  )

  it.scoped("with rateLimit false only the per-key backoff applies", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue({ rateLimit: false })
      for (let key = 0; key < 200; key++) {
        const retry = yield* queue.addRateLimited(`failing-${key}`)
        expect(Duration.toMillis(Option.getOrThrow(retry).delay)).toBe(5)
      }
    })
  )

  it.scoped(
    "hands out a key whose jittered delay ends between two nanoseconds (the timer does not spin)",
    () =>
      Effect.gen(function* () {
        const policy = new RetryPolicy.RetryPolicy({
          ...RetryPolicy.event,
          initialDelayMs: 1_000,
          maxDelayMs: 1_000
        })
        const queue = yield* makeQueue({ retryPolicy: policy, rateLimit: false })
        // 1000 ms · (1 + 0.25 · 1.6e-9) = 1000.0000004 ms: a Duration holds whole nanoseconds, so the
        // timer's sleep ends 0.4 ns before the key's due time, and what is left rounds to a zero sleep.
        yield* queue.addRateLimited("a").pipe(Effect.withRandom(Random.fixed([1.6e-9])))
        yield* TestClock.adjust(Duration.millis(999))
        expect(yield* takeNow(queue)).toEqual(Option.none())
        yield* TestClock.adjust(Duration.millis(1_001))
        expect(yield* takeNow(queue)).toEqual(Option.some("a"))
      }),
    10_000
  )

  it.effect("drops waiting keys and interrupts takers on shutdown (and when its scope closes)", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const queue = yield* Scope.extend(makeQueue(), scope)
      yield* queue.add("in-flight")
      expect(yield* queue.take).toBe("in-flight")
      yield* queue.addAfter("later", "1 second")
      const taker = yield* Effect.fork(queue.take)
      yield* TestClock.adjust(0)
      yield* Scope.close(scope, Exit.void)
      expect(yield* queue.isShutdown).toBe(true)
      expect(yield* queue.depth).toBe(0)
      expect(Exit.isInterrupted(yield* Fiber.await(taker))).toBe(true)
      yield* queue.add("after")
      expect(yield* queue.depth).toBe(0)
      expect(yield* queue.inFlight).toBe(1)
      yield* queue.done("in-flight")
      expect(yield* queue.inFlight).toBe(0)
      yield* queue.awaitIdle
    })
  )

  it.scoped("shutdown drops ready keys too; take afterwards is interrupted", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue()
      yield* queue.add("a")
      yield* queue.add("b")
      yield* queue.shutdown
      expect(yield* queue.depth).toBe(0)
      expect(Exit.isInterrupted(yield* Effect.exit(queue.take))).toBe(true)
    })
  )

  it.scoped("rejects a rate limit that could never refill", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(makeQueue({ rateLimit: { perSecond: 0, burst: 10 } }))
      expect(Exit.isFailure(exit) && Cause.pretty(exit.cause)).toContain("rateLimit needs perSecond > 0")
    })
  )

  it.scoped("reports depth, adds, retries and queue wait as metrics labelled with its name", () =>
    Effect.gen(function* () {
      const queue = yield* makeQueue({ rateLimit: false })
      const tagged = <T, I, O>(metric: Metric.Metric<T, I, O>) => Metric.tagged(metric, "name", queue.name)
      yield* queue.add("a")
      yield* queue.add("b")
      yield* queue.add("a")
      expect((yield* Metric.value(tagged(Metrics.workqueueDepth))).value).toBe(2)
      expect((yield* Metric.value(tagged(Metrics.workqueueAddsTotal))).count).toBe(2)
      yield* TestClock.adjust(Duration.seconds(2))
      yield* queue.take
      const waited = yield* Metric.value(tagged(Metrics.workqueueQueueDurationSeconds))
      expect(waited.count).toBe(1)
      expect(waited.sum).toBe(2)
      yield* queue.addRateLimited("a")
      expect((yield* Metric.value(tagged(Metrics.workqueueRetriesTotal))).count).toBe(1)
      expect((yield* Metric.value(tagged(Metrics.workqueueDepth))).value).toBe(1)
    })
  )
})
