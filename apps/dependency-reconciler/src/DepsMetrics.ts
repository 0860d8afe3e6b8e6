/**
 * The engine's metrics (`converge_deps_*`, Effect `Metric`, exposed by `@converge/http`'s
 * `/metrics`) and its status summary for `/status`.
 *
 * ```text
 *   Dispatch hop ──▶ decisions_total{policy,outcome}, dispatch_latency_seconds
 *   Dispatch     ──▶ dispatch_retries_total, contention_retries_total
 *   PushDispatcher / StaleSweeper ──▶ dispatch_errors_total{path}, events_dispatched_total{path}
 *   StaleSweeper ──▶ sweep_rows_total{result} ─┐
 *   PushDispatcher (Resubscribed) ─────────────┼─▶ EngineStatus (Status, served at /status)
 *   pollPending (SQL, every interval) ─────────┘   pending_events, oldest_pending_age_seconds,
 *                                                  max_pending_attempts
 * ```
 */
import { Status } from "@converge/core"
import { SqlClient, type SqlError } from "@effect/sql"
import { Duration, Effect, Metric, MetricBoundaries, Schedule, Schema, type Scope } from "effect"

/** `converge_deps_decisions_total{policy, outcome}`: one-shot group decisions (`satisfied` / `impossible`). */
export const decisionsTotal = Metric.counter("converge_deps_decisions_total", {
  description: "Edge-group decisions by policy and outcome",
  incremental: true
})

/** Dispatch latency buckets: 1 ms to 60 s. */
export const latencyBoundaries = MetricBoundaries.fromIterable([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
])

/** `converge_deps_dispatch_latency_seconds`: from an upstream's completion commit to its downstream becoming runnable (database clock). */
export const dispatchLatencySeconds = Metric.histogram(
  "converge_deps_dispatch_latency_seconds",
  latencyBoundaries,
  "Time from an upstream's completion commit to its downstream becoming runnable"
)

/** `converge_deps_dispatch_retries_total`: dispatches of an event that had failed before. */
export const dispatchRetriesTotal = Metric.counter("converge_deps_dispatch_retries_total", {
  description: "Dispatches of completion events that had failed before",
  incremental: true
})

/** `converge_deps_contention_retries_total`: hop transactions run again after 40001 / 40P01 / 55P03. */
export const contentionRetriesTotal = Metric.counter("converge_deps_contention_retries_total", {
  description: "Hop transactions retried after contention",
  incremental: true
})

/** `converge_deps_dispatch_errors_total{path}`: failed dispatches, by `path` (`push`, `sweeper`). */
export const dispatchErrorsTotal = Metric.counter("converge_deps_dispatch_errors_total", {
  description: "Failed dispatches of completion events by path",
  incremental: true
})

/** `converge_deps_events_dispatched_total{path}`: events this process marked dispatched, by `path`. */
export const eventsDispatchedTotal = Metric.counter("converge_deps_events_dispatched_total", {
  description: "Completion events dispatched by path",
  incremental: true
})

/** `converge_deps_sweep_rows_total{result}`: sweeper rows by `result` (`scanned`, `reconciled`, `noop`, `filtered`, `errors`). */
export const sweepRowsTotal = Metric.counter("converge_deps_sweep_rows_total", {
  description: "Rows seen by the stale-event sweeper by result",
  incremental: true
})

/** `converge_deps_pending_events`: completion events not yet dispatched (polled from SQL). */
export const pendingEvents = Metric.gauge("converge_deps_pending_events", {
  description: "Completion events not yet dispatched"
})

/** `converge_deps_oldest_pending_age_seconds`: age of the oldest pending completion event (polled from SQL). */
export const oldestPendingAgeSeconds = Metric.gauge("converge_deps_oldest_pending_age_seconds", {
  description: "Age of the oldest pending completion event in seconds"
})

/** `converge_deps_max_pending_attempts`: most failed attempts of any pending event; a growing value is a poison event. */
export const maxPendingAttempts = Metric.gauge("converge_deps_max_pending_attempts", {
  description: "Highest attempt count among pending completion events (a poison event shows here)"
})

/** What one sweep did; `scanned = reconciled + noop + errors`, `filtered` counts stale rows outside the filters. */
export const SweepReport = Schema.Struct({
  /** Stale pending events selected (matching the filters, at most the batch limit). */
  scanned: Schema.Number,
  /** Selected events this sweep dispatched. */
  reconciled: Schema.Number,
  /** Selected events someone else dispatched first. */
  noop: Schema.Number,
  /** Stale pending events left out by the namespace / instance-tag filters. */
  filtered: Schema.Number,
  /** Selected events whose dispatch failed (left pending with attempts and last error). */
  errors: Schema.Number
})

/** What one sweep did. */
export type SweepReport = typeof SweepReport.Type

/** The outbox as one SQL poll sees it. */
export interface PendingSummary {
  readonly pendingEvents: number
  readonly oldestPendingAgeSeconds: number
  readonly maxPendingAttempts: number
}

/** The engine's status, served at `/status`. */
export const EngineStatus = Schema.Struct({
  /** Pending completion events at the last poll. */
  pendingEvents: Schema.Number,
  /** Age of the oldest pending event at the last poll, in seconds (0 when none). */
  oldestPendingAgeSeconds: Schema.Number,
  /** Most attempts of any pending event at the last poll: a growing value is a poison event. */
  maxPendingAttempts: Schema.Number,
  /** The last sweep's report, if a sweep ran. */
  lastSweep: Schema.NullOr(SweepReport),
  /** Sweeps completed by this process. */
  sweeps: Schema.Number,
  /** `off` (push disabled), `connecting` (no LISTEN yet) or `subscribed`. */
  dispatcher: Schema.Literal("off", "connecting", "subscribed"),
  /** LISTENs so far (1 after the first subscription; more after reconnects). */
  subscriptions: Schema.Number
})

/** The engine's status. */
export type EngineStatus = typeof EngineStatus.Type

/** The status handle the engine's parts update. */
export type EngineStatusHandle = Status.Status<EngineStatus, typeof EngineStatus.Encoded>

/** The status before anything ran. */
export const initialStatus: EngineStatus = {
  pendingEvents: 0,
  oldestPendingAgeSeconds: 0,
  maxPendingAttempts: 0,
  lastSweep: null,
  sweeps: 0,
  dispatcher: "off",
  subscriptions: 0
}

/** Creates an engine status holding `initialStatus` (with `dispatcher` set as given). */
export const makeStatus = (
  dispatcher: EngineStatus["dispatcher"] = "off"
): Effect.Effect<EngineStatusHandle> => Status.make(EngineStatus, { ...initialStatus, dispatcher })

/** Records a group decision and, when it made the downstream runnable, the dispatch latency. */
export const recordDecision = (
  policy: string,
  outcome: "satisfied" | "impossible",
  eligibleAfterMs: number | undefined
): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(Metric.tagged(decisionsTotal, "policy", policy), "outcome", outcome)),
    eligibleAfterMs === undefined
      ? Effect.void
      : Metric.update(dispatchLatencySeconds, Math.max(0, eligibleAfterMs) / 1000)
  )

/** Records a sweep's report in the metrics and, if given, the status. */
export const recordSweep = (report: SweepReport, status?: EngineStatusHandle): Effect.Effect<void> =>
  Effect.zipRight(
    Effect.forEach(
      ["scanned", "reconciled", "noop", "filtered", "errors"] as const,
      (result) => Metric.incrementBy(Metric.tagged(sweepRowsTotal, "result", result), report[result]),
      { discard: true }
    ),
    status?.update((current) => ({ ...current, lastSweep: report, sweeps: current.sweeps + 1 })) ??
      Effect.void
  )

/** Records that the push dispatcher is listening (again) in the status. */
export const recordSubscribed = (status: EngineStatusHandle, subscription: number): Effect.Effect<void> =>
  status.update((current) => ({ ...current, dispatcher: "subscribed", subscriptions: subscription }))

/** Reads the outbox's pending count, oldest age and highest attempts in one query (partial index on pending rows). */
export const pollPending: Effect.Effect<PendingSummary, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{
      readonly pending: number
      readonly oldest_age_seconds: number
      readonly max_attempts: number
    }>`
      SELECT count(*)::int AS pending,
             COALESCE(extract(epoch FROM clock_timestamp() - min(committed_at)), 0)::float8 AS oldest_age_seconds,
             COALESCE(max(attempts), 0)::int AS max_attempts
      FROM deps_completion_events WHERE dispatched_at IS NULL`
    return {
      pendingEvents: row?.pending ?? 0,
      oldestPendingAgeSeconds: row?.oldest_age_seconds ?? 0,
      maxPendingAttempts: row?.max_attempts ?? 0
    }
  }
)

/** Polls the outbox once and sets the gauges and, if given, the status. */
export const refreshPending = (
  status?: EngineStatusHandle
): Effect.Effect<PendingSummary, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.tap(pollPending, (summary) =>
    Effect.all(
      [
        Metric.set(pendingEvents, summary.pendingEvents),
        Metric.set(oldestPendingAgeSeconds, summary.oldestPendingAgeSeconds),
        Metric.set(maxPendingAttempts, summary.maxPendingAttempts),
        status?.update((current) => ({ ...current, ...summary })) ?? Effect.void
      ],
      { discard: true }
    )
  )

/**
 * Polls the outbox every `interval` (default 5 seconds) for the rest of the scope; a failed poll
 * is logged and the next one tries again.
 */
export const pollPendingEvery = (
  options: {
    readonly interval?: Duration.DurationInput | undefined
    readonly status?: EngineStatusHandle
  } = {}
): Effect.Effect<void, never, Scope.Scope | SqlClient.SqlClient> =>
  refreshPending(options.status).pipe(
    Effect.catchAll((error) => Effect.logWarning("polling pending completion events failed", error)),
    Effect.repeat(Schedule.spaced(Duration.decode(options.interval ?? Duration.seconds(5)))),
    Effect.forkScoped,
    Effect.asVoid
  )
