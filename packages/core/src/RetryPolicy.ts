/**
 * Retry policies as plain, Schema-encodable values: exponential delays with a cap, an optional
 * attempt limit, jitter, and the error tags that must never be retried.
 *
 * One policy drives both `Effect.retry` (through `toSchedule`) and a work queue's per-key backoff.
 *
 * Delays: attempt `n` (the `n`-th run that failed, from 1) waits
 * `min(maxDelayMs, initialDelayMs · multiplierⁿ⁻¹)`, then jitter is applied to that capped delay `d`:
 *
 * | mode   | delay drawn uniformly from | use                                            |
 * |--------|----------------------------|------------------------------------------------|
 * | `none` | exactly `d`                | deterministic backoff (controller default)     |
 * | `full` | `[d·(1−f), d]`             | never waits longer than `d`; `f = 1` is AWS "full jitter" |
 * | `plus` | `[d, d·(1+f)]`             | never retries sooner than `d`; may exceed `maxDelayMs` by `f` |
 *
 * where `f` is `jitter.fraction` (0 to 1). Jitter draws from Effect's `Random`, so tests can seed it.
 */
import {
  Duration,
  Effect,
  Predicate,
  Random,
  Schedule,
  ScheduleDecision,
  ScheduleInterval,
  Schema
} from "effect"

/** How jitter spreads a delay `d`: `none`, `full` (`[d·(1−f), d]`) or `plus` (`[d, d·(1+f)]`). */
export const JitterMode = Schema.Literal("none", "full", "plus")

/** The type of `JitterMode`. */
export type JitterMode = typeof JitterMode.Type

/** Jitter settings: a `fraction` between 0 and 1 and a `mode`. */
export class Jitter extends Schema.Class<Jitter>("@converge/core/RetryPolicy/Jitter")({
  fraction: Schema.Number.pipe(Schema.between(0, 1)),
  mode: JitterMode
}) {}

/**
 * A retry policy. Construct with `new RetryPolicy({...})` (validated) or decode from config with
 * `Schema.decodeUnknown(RetryPolicy)`. `maxAttempts` counts every run including the first
 * (0 = unbounded); `nonRetryable` lists error `_tag`s that stop retrying at once.
 */
export class RetryPolicy extends Schema.Class<RetryPolicy>("@converge/core/RetryPolicy")(
  Schema.Struct({
    initialDelayMs: Schema.Number.pipe(Schema.nonNegative()),
    multiplier: Schema.Number.pipe(Schema.greaterThanOrEqualTo(1)),
    maxDelayMs: Schema.Number.pipe(Schema.nonNegative()),
    maxAttempts: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
    jitter: Jitter,
    nonRetryable: Schema.Array(Schema.String)
  }).pipe(
    Schema.filter((policy) =>
      policy.maxDelayMs >= policy.initialDelayMs ? undefined : "maxDelayMs must be at least initialDelayMs"
    )
  )
) {}

const noJitter = new Jitter({ fraction: 0, mode: "none" })

/** controller-runtime's per-item backoff: 5 ms doubling to 1000 s, unbounded attempts, no jitter. */
export const controller: RetryPolicy = new RetryPolicy({
  initialDelayMs: 5,
  multiplier: 2,
  maxDelayMs: 1_000_000,
  maxAttempts: 0,
  jitter: noJitter,
  nonRetryable: []
})

/** Event handling: 5 s doubling to 2 min, 8 attempts in all, plus 0–25 % jitter (never sooner than planned). */
export const event: RetryPolicy = new RetryPolicy({
  initialDelayMs: 5_000,
  multiplier: 2,
  maxDelayMs: 120_000,
  maxAttempts: 8,
  jitter: new Jitter({ fraction: 0.25, mode: "plus" }),
  nonRetryable: []
})

/** Reconnecting: 1 s doubling to 30 s, unbounded attempts, 50 % jitter below the planned delay. */
export const connection: RetryPolicy = new RetryPolicy({
  initialDelayMs: 1_000,
  multiplier: 2,
  maxDelayMs: 30_000,
  maxAttempts: 0,
  jitter: new Jitter({ fraction: 0.5, mode: "full" }),
  nonRetryable: []
})

/** The capped delay in milliseconds after failed attempt `attempt` (from 1), before jitter. */
export const baseDelayMillis = (policy: RetryPolicy, attempt: number): number => {
  const exponent = Math.max(0, attempt - 1)
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.multiplier ** exponent)
}

/**
 * The delay after failed attempt `attempt` (from 1). `random` is a uniform sample in `[0, 1)` that
 * places the delay inside the jitter range; without it no jitter is applied (use `sampleDelay` to draw it).
 */
export const delay = (policy: RetryPolicy, attempt: number, random?: number): Duration.Duration =>
  Duration.millis(delayMillis(policy, attempt, random))

/** `delay` in milliseconds, without allocating a `Duration` (for hot paths). */
export const delayMillis = (policy: RetryPolicy, attempt: number, random?: number): number => {
  const base = baseDelayMillis(policy, attempt)
  if (random === undefined) return base
  const { fraction, mode } = policy.jitter
  switch (mode) {
    case "none":
      return base
    case "full":
      return base * (1 - fraction * random)
    case "plus":
      return base * (1 + fraction * random)
  }
}

/** Whether this policy's delays are jittered (and so need a random draw). */
export const isJittered = (policy: RetryPolicy): boolean =>
  policy.jitter.mode !== "none" && policy.jitter.fraction > 0

/** The delay after failed attempt `attempt`, with jitter drawn from Effect's `Random`. */
export const sampleDelay = (policy: RetryPolicy, attempt: number): Effect.Effect<Duration.Duration> =>
  isJittered(policy)
    ? Effect.map(Random.next, (random) => delay(policy, attempt, random))
    : Effect.succeed(delay(policy, attempt))

/** Whether `error` may be retried: not a `Terminal` and not tagged with one of `nonRetryable`. */
export const isRetryable = (policy: RetryPolicy, error: unknown): boolean => {
  if (!Predicate.hasProperty(error, "_tag") || typeof error._tag !== "string") return true
  return error._tag !== "Terminal" && !policy.nonRetryable.includes(error._tag)
}

/** Whether another run is allowed after `failedAttempts` failures (always, when `maxAttempts` is 0). */
export const hasAttemptsLeft = (policy: RetryPolicy, failedAttempts: number): boolean =>
  policy.maxAttempts === 0 || failedAttempts < policy.maxAttempts

/**
 * The policy as a `Schedule` for `Effect.retry`: it outputs each delay it waits, stops at once on a
 * non-retryable error, and stops when `maxAttempts` runs have failed.
 */
export const toSchedule = (policy: RetryPolicy): Schedule.Schedule<Duration.Duration, unknown> =>
  Schedule.makeWithState(0, (now, error: unknown, failedAttempts) => {
    const attempt = failedAttempts + 1
    if (!isRetryable(policy, error) || !hasAttemptsLeft(policy, attempt)) {
      return Effect.succeed([failedAttempts, Duration.zero, ScheduleDecision.done] as const)
    }
    return Effect.map(
      sampleDelay(policy, attempt),
      (wait) =>
        [
          attempt,
          wait,
          ScheduleDecision.continueWith(ScheduleInterval.after(now + Duration.toMillis(wait)))
        ] as const
    )
  })
