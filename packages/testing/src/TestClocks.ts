/**
 * Driving `TestClock` through loops that do real I/O (a query, an HTTP call) between timers.
 *
 * `TestClock.adjust` waits until the test's fibers are suspended before it moves time, but a
 * fiber waiting on I/O counts as suspended. One big jump then fires the loop's first timer and
 * moves past the next ones before the loop, back from its I/O, has scheduled them: the loop ticks
 * once where the test expected ten. `advanceUntil` moves time in small steps instead, lets the
 * real event loop run between steps so the I/O completes, and stops as soon as the outcome the
 * test waits for is there.
 */
import { Data, Duration, Effect, TestClock } from "effect"

/** `advanceUntil` moved the clock by its whole budget and the condition still did not hold. */
export class AdvanceLimitError extends Data.TaggedError("AdvanceLimitError")<{
  readonly message: string
}> {}

const nextEventLoopTurn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * Checks `condition`; while it is false, moves `TestClock` forward by `step` and lets the real
 * event loop run once, up to `max` of clock time in all. Fails with `AdvanceLimitError` if the
 * condition still does not hold after `max`.
 */
export const advanceUntil = <E, R>(
  condition: Effect.Effect<boolean, E, R>,
  options: { readonly step: Duration.DurationInput; readonly max: Duration.DurationInput }
): Effect.Effect<void, E | AdvanceLimitError, R> => {
  const step = Duration.decode(options.step)
  const max = Duration.decode(options.max)
  const loop = (advanced: Duration.Duration): Effect.Effect<void, E | AdvanceLimitError, R> =>
    Effect.flatMap(condition, (holds) => {
      if (holds) return Effect.void
      if (Duration.greaterThanOrEqualTo(advanced, max)) {
        return Effect.fail(
          new AdvanceLimitError({
            message: `The condition did not hold after advancing TestClock by ${Duration.format(max)}`
          })
        )
      }
      return TestClock.adjust(step).pipe(
        Effect.zipRight(nextEventLoopTurn),
        Effect.zipRight(Effect.suspend(() => loop(Duration.sum(advanced, step))))
      )
    })
  return Duration.greaterThan(step, Duration.zero)
    ? loop(Duration.zero)
    : Effect.dieMessage(`TestClocks.advanceUntil: step must be positive, got ${Duration.format(step)}`)
}
