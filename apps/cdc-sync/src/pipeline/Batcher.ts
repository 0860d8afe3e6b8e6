/**
 * Groups queued items into batches: a batch closes when it weighs `maxWeight` (changes) or when
 * `maxWait` has passed since its first item, whichever comes first.
 *
 * ```text
 *   take (wait for the first item) ─▶ take what is queued, and wait for more until the deadline
 *                                      (first item + maxWait) ─▶ batch
 * ```
 *
 * Waiting with a timeout never loses an item: the waiting `Queue.take` runs in a fiber of its own
 * that the timeout does not interrupt (only the join is), and the next batch starts with its item.
 */
import { Clock, Duration, Effect, type Fiber, Option, Queue, type Scope } from "effect"

/** How batches are cut. */
export interface Options<A> {
  /** A batch closes once its items weigh this much (an item is never split). */
  readonly maxWeight: number
  /** A batch closes this long after its first item, even when lighter. */
  readonly maxWait: Duration.DurationInput
  /** The weight of one item (for transaction parts: their changes). */
  readonly weight: (item: A) => number
}

/** Takes batches from one queue. */
export interface Batcher<A> {
  /** Waits for the next non-empty batch. */
  readonly next: Effect.Effect<ReadonlyArray<A>>
}

/**
 * A batcher over `queue`. Only one fiber may call `next` at a time; a take still waiting when a
 * batch closed lives in the scope (interrupted when it closes).
 */
export const make = <A>(
  queue: Queue.Dequeue<A>,
  options: Options<A>
): Effect.Effect<Batcher<A>, never, Scope.Scope> =>
  Effect.map(Effect.scope, (scope) => {
    const maxWaitMillis = Duration.toMillis(Duration.decode(options.maxWait))
    // A take that was still waiting when the previous batch closed: its item starts the next batch.
    let waiting: Fiber.RuntimeFiber<A> | undefined

    const first = Effect.suspend(() => {
      const fiber = waiting
      if (fiber === undefined) return Queue.take(queue)
      waiting = undefined
      return fiber.await.pipe(Effect.flatten)
    })

    const within = (millis: number): Effect.Effect<Option.Option<A>> =>
      Effect.gen(function* () {
        const fiber = waiting ?? (yield* Effect.forkIn(Queue.take(queue), scope))
        waiting = fiber
        const taken = yield* fiber.await.pipe(Effect.flatten, Effect.timeoutOption(Duration.millis(millis)))
        if (Option.isSome(taken)) waiting = undefined
        return taken
      })

    const next = Effect.gen(function* () {
      const head = yield* first
      const deadline = (yield* Clock.currentTimeMillis) + maxWaitMillis
      const batch = [head]
      let weight = options.weight(head)
      while (weight < options.maxWeight) {
        let item = yield* Queue.poll(queue)
        if (Option.isNone(item)) {
          const left = deadline - (yield* Clock.currentTimeMillis)
          if (left <= 0) break
          item = yield* within(left)
          if (Option.isNone(item)) break
        }
        batch.push(item.value)
        weight += options.weight(item.value)
      }
      return batch as ReadonlyArray<A>
    })

    return { next }
  })
