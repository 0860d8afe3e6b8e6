/**
 * A work queue with controller-runtime's semantics, for keys compared by Effect `Equal`/`Hash`
 * (so `Data` structs work as keys):
 *
 * - a key waits at most once; adding it again keeps the earliest due time;
 * - a key being processed is never handed out again: an add while it runs marks it dirty, and
 *   `done(key)` puts it back in the queue;
 * - `addAfter` delays a key; `addRateLimited` re-adds a failed key after its per-key backoff
 *   (by the `RetryPolicy`) or the global token bucket's wait, whichever is longer, and `forget`
 *   resets the backoff on success. Plain adds are never throttled.
 *
 * It updates `converge_workqueue_*` metrics labelled `name`. Time comes from Effect's `Clock`.
 */
import { Duration, Effect, Option, type Scope } from "effect"
import * as internal from "./internal/workQueue.js"
import type * as RetryPolicy from "./RetryPolicy.js"

/** A global token bucket for rate-limited re-adds: `perSecond` tokens refill, up to `burst`. */
export interface RateLimit {
  readonly perSecond: number
  readonly burst: number
}

/** controller-runtime's default bucket: 10 re-adds per second, bursts of 100. */
export const defaultRateLimit: RateLimit = internal.defaultRateLimit

/** Options for `make`. */
export interface Options {
  /** The queue's name, used as the `name` label of its metrics. */
  readonly name: string
  /** Per-key backoff for `addRateLimited`. Default `RetryPolicy.controller` (5 ms → 1000 s). */
  readonly retryPolicy?: RetryPolicy.RetryPolicy
  /** The global bucket for `addRateLimited`, or `false` for none. Default `defaultRateLimit` (10/s, burst 100). */
  readonly rateLimit?: RateLimit | false
}

/** Where a rate-limited re-add put the key: the failure count and the wait before it runs again. */
export interface Retry {
  readonly attempt: number
  readonly delay: Duration.Duration
}

/** A work queue of keys `K`; see the module docs for its guarantees. */
export interface WorkQueue<in out K> {
  /** The queue's name (its metrics' `name` label). */
  readonly name: string
  /** Makes `key` ready now (or marks it dirty if it is processing). */
  readonly add: (key: K) => Effect.Effect<void>
  /** Makes `key` ready after `delay`; an earlier due time already set for it wins. */
  readonly addAfter: (key: K, delay: Duration.DurationInput) => Effect.Effect<void>
  /**
   * Counts a failure for `key` and re-adds it after its backoff (or the bucket's wait, if longer).
   * `None` when the policy's `maxAttempts` are used up: the key is then forgotten and not re-added.
   */
  readonly addRateLimited: (key: K) => Effect.Effect<Option.Option<Retry>>
  /** Resets the failures counted for `key`. Call it when `key` succeeds. */
  readonly forget: (key: K) => Effect.Effect<void>
  /** Failures counted for `key` since the last `forget`. */
  readonly failures: (key: K) => Effect.Effect<number>
  /** Waits for the next ready key and marks it processing; call `done` when finished with it. Interrupts once shut down. */
  readonly take: Effect.Effect<K>
  /** Marks `key` finished; if it was added meanwhile, it waits again. */
  readonly done: (key: K) => Effect.Effect<void>
  /** Keys waiting (ready or delayed). */
  readonly depth: Effect.Effect<number>
  /** Keys taken and not yet `done`. */
  readonly inFlight: Effect.Effect<number>
  /** Waits until no key is ready or due and none is processing; keys scheduled for later do not count. */
  readonly awaitIdle: Effect.Effect<void>
  /** Drops waiting keys, ignores later adds, and interrupts takers. Keys processing can still be marked `done`. */
  readonly shutdown: Effect.Effect<void>
  /** Whether `shutdown` has run. */
  readonly isShutdown: Effect.Effect<boolean>
}

/** Creates a work queue; it shuts down when the scope closes. Dies with a clear message on a bad `rateLimit`. */
export const make = <K>(options: Options): Effect.Effect<WorkQueue<K>, never, Scope.Scope> =>
  Effect.map(internal.makeState<K>(options), (state) => ({
    name: options.name,
    add: (key) => Effect.sync(() => state.add(key, 0)),
    addAfter: (key, delay) => Effect.sync(() => state.add(key, Duration.toMillis(delay))),
    addRateLimited: (key) =>
      Effect.map(state.addRateLimitedEffect(key), (retry) =>
        retry === undefined
          ? Option.none()
          : Option.some({ attempt: retry.attempt, delay: Duration.millis(retry.delayMillis) })
      ),
    forget: (key) => Effect.sync(() => state.forget(key)),
    failures: (key) => Effect.sync(() => state.failuresOf(key)),
    take: state.take,
    done: (key) => Effect.sync(() => state.done(key)),
    depth: Effect.sync(() => state.depth),
    inFlight: Effect.sync(() => state.inFlight),
    awaitIdle: state.awaitIdle,
    shutdown: Effect.sync(() => state.shutdown()),
    isShutdown: Effect.sync(() => state.isShutdown)
  }))
