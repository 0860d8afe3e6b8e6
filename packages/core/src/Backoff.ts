/**
 * Connection-style backoff: each failure waits longer (by a `RetryPolicy`), and a connection that
 * stays up for `resetAfter` earns a fresh start from the initial delay.
 *
 * ```text
 *   connect ──fail──▶ next (1 s) ──fail──▶ next (2 s) … ──ok──▶ succeeded ── ≥ 60 s ──fail──▶ next (1 s)
 * ```
 *
 * Time comes from Effect's `Clock` and jitter from `Random`, so `TestClock` and a seeded `Random` drive it.
 */
import { Clock, Duration, Effect, Ref } from "effect"
import * as RetryPolicy from "./RetryPolicy.js"

/** A backoff for one connection; share it between the connect loop's failure and success paths. */
export interface Backoff {
  /** Counts a failure and returns how long to wait before the next attempt. */
  readonly next: Effect.Effect<Duration.Duration>
  /** Marks the connection up now; if it is still up `resetAfter` later, the next failure starts over. */
  readonly succeeded: Effect.Effect<void>
  /** Forgets every failure at once. */
  readonly reset: Effect.Effect<void>
  /** Failures counted since the last reset. */
  readonly failures: Effect.Effect<number>
}

/** Options for `make`; every field has a default. */
export interface Options {
  /** Delays and jitter (attempt limits and `nonRetryable` are the caller's business). Default `RetryPolicy.connection`: 1 s → 30 s, 50 % jitter. */
  readonly policy?: RetryPolicy.RetryPolicy
  /** How long a connection must stay up for the next failure to restart from the initial delay. Default 60 s. */
  readonly resetAfter?: Duration.DurationInput
}

interface State {
  readonly failures: number
  /** While connected: when the connection counts as stable (connected at + `resetAfter`). */
  readonly stableAtMillis: number | undefined
}

/** Creates a backoff with no failures counted. */
export const make = (options: Options = {}): Effect.Effect<Backoff> =>
  Effect.gen(function* () {
    const policy = options.policy ?? RetryPolicy.connection
    const resetAfterMillis = Duration.toMillis(options.resetAfter ?? Duration.seconds(60))
    const initial: State = { failures: 0, stableAtMillis: undefined }
    const state = yield* Ref.make(initial)

    // The deadline is computed once, as `connected at + resetAfter`: the same sum a clock makes
    // when it moves on by `resetAfter`. Comparing `now - connectedAt` instead can fall a rounding
    // error short at fractional times (a `TestClock` after jittered sleeps).
    const next = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.modify(state, ({ failures, stableAtMillis }) => {
        const stable = stableAtMillis !== undefined && now >= stableAtMillis
        const counted = (stable ? 0 : failures) + 1
        return [counted, { failures: counted, stableAtMillis: undefined }]
      })
    ).pipe(Effect.flatMap((attempt) => RetryPolicy.sampleDelay(policy, attempt)))

    const succeeded = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Ref.update(state, ({ failures }) => ({ failures, stableAtMillis: now + resetAfterMillis }))
    )

    return {
      next,
      succeeded,
      reset: Ref.set(state, initial),
      failures: Effect.map(Ref.get(state), ({ failures }) => failures)
    }
  })
