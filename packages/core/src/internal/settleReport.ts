/**
 * Runs a debouncer's settle callback and reports the outcome: a counter, a log line on
 * failure, and the caller's observer event. The result never fails, so a failing callback
 * cannot wedge the settle loop.
 */
import { type Cause, Clock, Effect, Exit, Metric } from "effect"

/** `converge_debouncer_settles_total{debouncer, result}`: settles by `result` (`success` or `failure`). */
export const settlesTotal = Metric.counter("converge_debouncer_settles_total", {
  description: "Total number of debouncer settles per debouncer and result",
  incremental: true
})

/** What to run and whom to tell. */
export interface SettleReport<E> {
  readonly debouncer: string
  readonly settle: Effect.Effect<void, E>
  /** Log annotations describing what was settled (e.g. the key). */
  readonly annotations: Record<string, unknown>
  readonly onSuccess: (durationMs: number) => Effect.Effect<void>
  readonly onFailure: (cause: Cause.Cause<E>) => Effect.Effect<void>
}

/** Runs `settle`, counts it, logs a failure with its cause, and notifies the caller. */
export const runReported = <E>(report: SettleReport<E>): Effect.Effect<void> =>
  Effect.gen(function* () {
    const startedAt = yield* Clock.currentTimeMillis
    const exit = yield* Effect.exit(report.settle)
    const durationMs = (yield* Clock.currentTimeMillis) - startedAt
    const counter = Metric.tagged(settlesTotal, "debouncer", report.debouncer)
    if (Exit.isSuccess(exit)) {
      yield* Metric.increment(Metric.tagged(counter, "result", "success"))
      return yield* report.onSuccess(durationMs)
    }
    yield* Metric.increment(Metric.tagged(counter, "result", "failure"))
    yield* Effect.logError("debouncer settle failed; the next change settles again", exit.cause).pipe(
      Effect.annotateLogs({ debouncer: report.debouncer, ...report.annotations })
    )
    yield* report.onFailure(exit.cause)
  })
