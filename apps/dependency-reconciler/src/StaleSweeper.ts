/**
 * The stale-event sweeper: the safety net behind the push dispatcher. Every interval it selects
 * the pending completion events older than `staleThresholdMs`, in id order, at most
 * `maxBatch` (1000), filtered by namespace and instance tag in SQL, and dispatches each one.
 *
 * ```text
 *   core Sweeper (schedule, LeaderGate) ─▶ tick ─▶ SELECT stale pending ids ─▶ Dispatch.dispatch each
 *                                                                           └▶ SweepReport ─▶ observer, metrics, status
 * ```
 *
 * A tick dispatches the events that were pending when it started, so a crashed cascade of
 * depth D (each level's events written by the previous level's hops) drains in at most D
 * ticks, as long as the interval is at least the threshold (a level written during one tick is
 * then stale by the next). A failing (poison) event is counted in `errors`, keeps its attempts and last error,
 * and never stops the rest of the batch.
 */
import { type LeaderGate, type Observer, Sweeper } from "@converge/core"
import { SqlClient, type SqlError } from "@effect/sql"
import { Cause, Duration, Effect, Layer, Metric, Schedule, type Scope } from "effect"
import * as DepsMetrics from "./DepsMetrics.js"
import * as Dispatch from "./Dispatch.js"

/** What one sweep did (see `DepsMetrics.SweepReport`). */
export type SweepReport = DepsMetrics.SweepReport

/** The most events one tick selects. */
export const maxBatch = 1000

/** The default age an event must reach before the sweeper takes it, in milliseconds. */
export const defaultStaleThresholdMs = 1000

/** The sweeper's name in events, logs and the `sweeper` metric label. */
export const sweeperName = "dependency-reconciler-stale-events"

/** What one tick sweeps; every field has a default. */
export interface TickOptions {
  /** Only events committed more than this long ago (database clock). Default 1000. */
  readonly staleThresholdMs?: number | undefined
  /** Only events of this namespace; all when absent. */
  readonly namespace?: string | undefined
  /** Only events of this instance tag; all when absent. */
  readonly instanceTag?: string | undefined
  /** Options of each dispatch (contention retry). */
  readonly dispatch?: Dispatch.Options | undefined
  /** Status to record each report in. */
  readonly status?: DepsMetrics.EngineStatusHandle | undefined
  /** Told about every tick's outcome (after the metrics and status are updated). */
  readonly observer?: Observer.Observer<Sweeper.SweeperEvent<SweepReport, SqlError.SqlError>> | undefined
}

/** The options of `run` / `layer`. */
export interface Options extends TickOptions {
  /** Time between the end of one tick and the start of the next. Default 1 second. */
  readonly interval?: Duration.DurationInput | undefined
}

interface Selection {
  readonly ids: ReadonlyArray<string>
  readonly filtered: number
}

const select = (options: TickOptions): Effect.Effect<Selection, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const thresholdMs = options.staleThresholdMs ?? defaultStaleThresholdMs
    const namespace = options.namespace ?? null
    const instanceTag = options.instanceTag ?? null
    // One statement, one `now()`: the batch and the filtered count see the same cut-off.
    const [row] = yield* sql<{ readonly ids: ReadonlyArray<string> | null; readonly filtered: number }>`
      WITH stale AS (
        SELECT id, namespace, instance_tag FROM deps_completion_events
        WHERE dispatched_at IS NULL
          AND committed_at < now() - make_interval(secs => ${thresholdMs}::float8 / 1000)
      ),
      batch AS (
        SELECT id FROM stale
        WHERE (${namespace}::text IS NULL OR namespace = ${namespace}::text)
          AND (${instanceTag}::text IS NULL OR instance_tag = ${instanceTag}::text)
        ORDER BY id LIMIT ${maxBatch}
      )
      SELECT (SELECT array_agg(id::text ORDER BY id) FROM batch) AS ids,
             (SELECT count(*) FROM stale
              WHERE NOT ((${namespace}::text IS NULL OR namespace = ${namespace}::text)
                AND (${instanceTag}::text IS NULL OR instance_tag = ${instanceTag}::text)))::int AS filtered`
    return { ids: row?.ids ?? [], filtered: row?.filtered ?? 0 }
  })

/**
 * One sweep: selects the stale pending events (see the module doc) and dispatches them one by
 * one in id order. A failed dispatch is counted in `errors` (the event keeps its attempts and
 * last error) and the batch goes on. Fails only if the selection query fails.
 */
export const tick = (
  options: TickOptions = {}
): Effect.Effect<SweepReport, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const selection = yield* select(options)
    let reconciled = 0
    let noop = 0
    let errors = 0
    for (const eventId of selection.ids) {
      const outcome = yield* Effect.exit(Dispatch.dispatch(eventId, options.dispatch ?? {}))
      if (outcome._tag === "Success") {
        if (outcome.value._tag === "Dispatched") reconciled++
        else noop++
      } else if (Cause.isInterruptedOnly(outcome.cause)) {
        return yield* Effect.interrupt
      } else {
        errors++
        yield* Metric.increment(Metric.tagged(DepsMetrics.dispatchErrorsTotal, "path", "sweeper"))
        yield* Effect.logWarning("sweeper: dispatch failed; the event stays pending", outcome.cause).pipe(
          Effect.annotateLogs("eventId", eventId)
        )
      }
    }
    if (reconciled > 0) {
      yield* Metric.incrementBy(
        Metric.tagged(DepsMetrics.eventsDispatchedTotal, "path", "sweeper"),
        reconciled
      )
    }
    return { scanned: selection.ids.length, reconciled, noop, filtered: selection.filtered, errors }
  })

const tickOptions = (
  options: TickOptions
): Sweeper.TickOptions<SweepReport, SqlError.SqlError, SqlClient.SqlClient> => ({
  name: sweeperName,
  tick: tick(options),
  observer: {
    notify: (event) =>
      Effect.zipRight(
        event._tag === "TickCompleted" ? DepsMetrics.recordSweep(event.report, options.status) : Effect.void,
        options.observer?.notify(event) ?? Effect.void
      )
  }
})

/** Runs one sweep now and reports it like the loop does: for `converge-deps sweep --once`. Not leader-gated. */
export const runOnce = (
  options: TickOptions = {}
): Effect.Effect<SweepReport, SqlError.SqlError, SqlClient.SqlClient> => Sweeper.runOnce(tickOptions(options))

/**
 * Starts the sweeper loop (core `Sweeper`: first tick at once, then `interval` after each
 * tick ends, only while the `LeaderGate` leads) for the rest of the scope. Several replicas may
 * sweep at once: dispatch is exactly once per edge.
 */
export const run = (
  options: Options = {}
): Effect.Effect<void, never, Scope.Scope | LeaderGate.LeaderGate | SqlClient.SqlClient> =>
  Sweeper.make({
    ...tickOptions(options),
    schedule: Schedule.spaced(Duration.decode(options.interval ?? Duration.seconds(1)))
  })

/** The sweeper loop as a layer (leader-gated by the `LeaderGate` in context). */
export const layer = (
  options: Options = {}
): Layer.Layer<never, never, LeaderGate.LeaderGate | SqlClient.SqlClient> => Layer.scopedDiscard(run(options))
