/**
 * The Controller's worker loop, kept apart from the public wiring in `Controller.ts`.
 *
 * A worker takes a key, reconciles it, settles it (forget / requeue / retry) and marks it done
 * once its reports are made. Taking and settling are synchronous steps; between them the key is
 * the worker's `current`, and if the worker is interrupted (leadership lost, shutdown) its
 * finalizer puts the key back in the queue. So no per-key uninterruptible region is needed, and a
 * key in flight is never lost.
 */
import { Cause, type Clock, Duration, Effect, MetricLabel, Option } from "effect"
import * as Metrics from "../Metrics.js"
import type { Outcome } from "../Outcome.js"
import * as RetryPolicy from "../RetryPolicy.js"
import type { KeyState, Retry, WorkQueueState } from "./workQueue.js"

/** Where a controller's workers report what happened, besides the metrics they update themselves. */
export interface Reports<K, E> {
  /** Called after each success; `undefined` when nobody listens (the hot path then skips it). */
  readonly success:
    | ((key: K, outcome: Outcome, duration: Duration.Duration) => Effect.Effect<void>)
    | undefined
  /** A retryable failure: `retry` is where the key went, `undefined` when attempts are used up. */
  readonly failure: (
    key: K,
    cause: Cause.Cause<E>,
    attempt: number,
    retry: Retry | undefined
  ) => Effect.Effect<void>
  /** A terminal failure: not retried. */
  readonly terminal: (key: K, cause: Cause.Cause<E>) => Effect.Effect<void>
}

/** Everything the workers of one controller share. */
export interface WorkerContext<K, E, R> {
  readonly name: string
  readonly queue: WorkQueueState<K>
  readonly clock: Clock.Clock
  readonly reconcile: (key: K) => Effect.Effect<Outcome, E, R>
  readonly retryPolicy: RetryPolicy.RetryPolicy
  readonly reports: Reports<K, E>
}

const resultTags = (controller: MetricLabel.MetricLabel, result: string) => [
  controller,
  MetricLabel.make("result", result)
]

/** A worker loop: each run of the returned effect is one worker; all share the controller's metrics. */
export const makeWorker = <K, E, R>(context: WorkerContext<K, E, R>): Effect.Effect<void, never, R> => {
  const { clock, queue, reconcile, reports, retryPolicy } = context
  const controllerLabel = MetricLabel.make("controller", context.name)
  const controllerTags = [controllerLabel]
  const tags = {
    success: resultTags(controllerLabel, "success"),
    requeueAfter: resultTags(controllerLabel, "requeue_after"),
    error: resultTags(controllerLabel, "error"),
    terminal: resultTags(controllerLabel, "terminal")
  }
  let activeWorkers = 0
  Metrics.activeWorkers.unsafeUpdate(0, controllerTags)

  const isTerminal = (cause: Cause.Cause<E>): boolean =>
    Option.match(Cause.failureOption(cause), {
      onNone: () => false,
      onSome: (error) => !RetryPolicy.isRetryable(retryPolicy, error)
    })

  return Effect.suspend(() => {
    /** Taken and not yet settled: put back in the queue if the worker is interrupted. */
    let current: KeyState<K> | undefined
    /** Settled, its reports still being made: marked done once they are (so `awaitIdle` waits for them). */
    let reporting: KeyState<K> | undefined
    let running = false
    let startedAt = BigInt(0)

    const releaseOnInterrupt = Effect.sync(() => {
      if (running) {
        running = false
        Metrics.activeWorkers.unsafeUpdate(--activeWorkers, controllerTags)
      }
      if (current !== undefined) {
        queue.add(current.key, 0)
        queue.doneState(current)
        current = undefined
      }
      if (reporting !== undefined) {
        queue.doneState(reporting)
        reporting = undefined
      }
    })

    const finishReporting = Effect.sync(() => {
      queue.doneState(reporting!)
      reporting = undefined
    })

    /** Hands the settled key over to the reporting phase and makes `report`, then marks it done. */
    const reportThenDone = (state: KeyState<K>, report: Effect.Effect<void>): Effect.Effect<void> => {
      current = undefined
      reporting = state
      return Effect.zipRight(report, finishReporting)
    }

    /** Ends a run's timing and returns how long it took. */
    const finishRun = (): Duration.Duration => {
      running = false
      Metrics.activeWorkers.unsafeUpdate(--activeWorkers, controllerTags)
      const duration = Duration.nanos(clock.unsafeCurrentTimeNanos() - startedAt)
      Metrics.reconcileDurationSeconds.unsafeUpdate(Duration.toSeconds(duration), controllerTags)
      return duration
    }

    const settleSuccess = (state: KeyState<K>, outcome: Outcome): void => {
      queue.forgetState(state)
      if (outcome._tag === "RequeueAfter") {
        queue.add(state.key, Duration.toMillis(outcome.delay))
        Metrics.reconcileTotal.unsafeUpdate(1, tags.requeueAfter)
      } else {
        Metrics.reconcileTotal.unsafeUpdate(1, tags.success)
      }
    }

    const settleFailure = (state: KeyState<K>, cause: Cause.Cause<E>): Effect.Effect<void> => {
      Metrics.reconcileErrorsTotal.unsafeUpdate(1, controllerTags)
      if (isTerminal(cause)) {
        queue.forgetState(state)
        Metrics.reconcileTotal.unsafeUpdate(1, tags.terminal)
        return reportThenDone(state, reports.terminal(state.key, cause))
      }
      const attempt = state.failures + 1
      return Effect.flatMap(queue.addRateLimitedEffect(state.key), (retry) => {
        Metrics.reconcileTotal.unsafeUpdate(1, tags.error)
        return reportThenDone(state, reports.failure(state.key, cause, attempt, retry))
      })
    }

    // After a key is settled, the next ready key is taken in the same step; only an empty queue
    // costs a suspension. Continuations return the next run, so the loop is stack-safe.
    const next = (): Effect.Effect<void, never, R> => {
      const state = queue.tryTake()
      return state === undefined ? waitForKey : run(state)
    }
    const continueWithNext = Effect.suspend(next)
    const waitForKey: Effect.Effect<void, never, R> = Effect.flatMap(queue.takeState, (state) =>
      state === undefined ? Effect.void : run(state)
    )

    // Created once per worker rather than per key: the hot path allocates no closures.
    const settleRun = {
      onSuccess: (outcome: Outcome): Effect.Effect<void, never, R> => {
        const state = current!
        const duration = finishRun()
        settleSuccess(state, outcome)
        if (reports.success === undefined) {
          queue.doneState(state)
          current = undefined
          return next()
        }
        return Effect.zipRight(
          reportThenDone(state, reports.success(state.key, outcome, duration)),
          continueWithNext
        )
      },
      onFailure: (cause: Cause.Cause<E>): Effect.Effect<void, never, R> => {
        finishRun()
        return Effect.zipRight(settleFailure(current!, cause), continueWithNext)
      }
    }

    const run = (state: KeyState<K>): Effect.Effect<void, never, R> => {
      current = state
      running = true
      Metrics.activeWorkers.unsafeUpdate(++activeWorkers, controllerTags)
      startedAt = clock.unsafeCurrentTimeNanos()
      return Effect.matchCauseEffect(reconcile(state.key), settleRun)
    }

    return Effect.ensuring(continueWithNext, releaseOnInterrupt)
  })
}
