import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option, Queue, TestClock } from "effect"
import * as Batcher from "../src/pipeline/Batcher.js"

/** Items are change counts: each weighs what it says. */
const batcherOf = (queue: Queue.Queue<number>) =>
  Batcher.make(queue, { maxWeight: 10, maxWait: "50 millis", weight: (changes) => changes })

describe("Batcher", () => {
  it.scoped("closes a batch at maxWeight at once, without waiting", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<number>()
      yield* Queue.offerAll(queue, [4, 4, 4, 1])
      const batcher = yield* batcherOf(queue)
      // 4 + 4 < 10, + 4 reaches it: closed with no clock advance.
      expect(yield* batcher.next).toEqual([4, 4, 4])
      expect(yield* Queue.size(queue)).toBe(1)
    })
  )

  it.scoped("waits up to maxWait after the first item for more, then closes lighter", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<number>()
      const batcher = yield* batcherOf(queue)
      yield* Queue.offer(queue, 1)
      const batch = yield* Effect.fork(batcher.next)
      yield* TestClock.adjust("30 millis")
      yield* Queue.offer(queue, 2)
      yield* TestClock.adjust("19 millis")
      expect(Option.isNone(yield* Fiber.poll(batch))).toBe(true)
      yield* Queue.offer(queue, 3)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(batch)).toEqual([1, 2, 3])
    })
  )

  it.scoped("the deadline counts from the first item, not from when next was called", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<number>()
      const batcher = yield* batcherOf(queue)
      const batch = yield* Effect.fork(batcher.next)
      yield* TestClock.adjust("1 second")
      expect(Option.isNone(yield* Fiber.poll(batch))).toBe(true)
      yield* Queue.offer(queue, 1)
      yield* TestClock.adjust("49 millis")
      expect(Option.isNone(yield* Fiber.poll(batch))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(batch)).toEqual([1])
    })
  )

  it.scoped("an item arriving after a batch closed on time starts the next batch: nothing is lost", () =>
    Effect.gen(function* () {
      const queue = yield* Queue.unbounded<number>()
      const batcher = yield* batcherOf(queue)
      const batches: Array<ReadonlyArray<number>> = []
      for (let round = 0; round < 20; round++) {
        yield* Queue.offer(queue, 1)
        const batch = yield* Effect.fork(batcher.next)
        yield* TestClock.adjust("50 millis")
        batches.push(yield* Fiber.join(batch))
      }
      // Each batch closed on its deadline while a take was waiting; the next item went to the next batch.
      expect(batches).toEqual(Array.from({ length: 20 }, () => [1]))
      yield* Queue.offerAll(queue, [2, 3])
      const last = yield* Effect.fork(batcher.next)
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(last)).toEqual([2, 3])
      // One take still waits (size -1): the item it gets opens the next batch.
      expect(yield* Queue.size(queue)).toBe(-1)
      yield* Queue.offer(queue, 9)
      expect(yield* Queue.size(queue)).toBe(0)
      const after = yield* Effect.fork(batcher.next)
      yield* TestClock.adjust("50 millis")
      expect(yield* Fiber.join(after)).toEqual([9])
    })
  )
})
