/**
 * The standard Converge metrics, named after controller-runtime's so dashboards carry over.
 * `@converge/http` exposes them (with every other Effect metric) as Prometheus text.
 *
 * Labels: `controller` names the controller on every reconcile / worker / leader metric;
 * `name` names the work queue on every queue metric (a controller's queue is named after it);
 * `result` on `converge_reconcile_total` is one of `success`, `error`, `requeue_after`, `terminal`.
 */
import { Metric, MetricBoundaries } from "effect"

/** Reconcile duration buckets: 0.005 s to 60 s, as controller-runtime uses. */
export const durationBoundaries = MetricBoundaries.fromIterable([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5,
  1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60
])

/** Queue wait buckets: 1 µs to 10 s, powers of ten as controller-runtime uses. */
export const queueDurationBoundaries = MetricBoundaries.fromIterable([
  1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10
])

/** Reconciles finished, by `controller` and `result`. */
export const reconcileTotal = Metric.counter("converge_reconcile_total", {
  description: "Total number of reconciliations per controller and result",
  incremental: true
})

/** Reconciles that failed (retryable or terminal), by `controller`. */
export const reconcileErrorsTotal = Metric.counter("converge_reconcile_errors_total", {
  description: "Total number of reconciliation errors per controller",
  incremental: true
})

/** Time a reconcile took, in seconds, by `controller`. */
export const reconcileDurationSeconds = Metric.histogram(
  "converge_reconcile_duration_seconds",
  durationBoundaries,
  "Length of time per reconciliation per controller"
)

/** Keys waiting in a work queue (ready or delayed), by `name`. */
export const workqueueDepth = Metric.gauge("converge_workqueue_depth", {
  description: "Current depth of the work queue"
})

/** Keys added to a work queue, by `name`. */
export const workqueueAddsTotal = Metric.counter("converge_workqueue_adds_total", {
  description: "Total number of adds handled by the work queue",
  incremental: true
})

/** Keys re-queued after a failure, by `name`. */
export const workqueueRetriesTotal = Metric.counter("converge_workqueue_retries_total", {
  description: "Total number of retries handled by the work queue",
  incremental: true
})

/** Time a key waited in a work queue before it was processed, in seconds, by `name`. */
export const workqueueQueueDurationSeconds = Metric.histogram(
  "converge_workqueue_queue_duration_seconds",
  queueDurationBoundaries,
  "How long in seconds an item stays in the work queue before being requested"
)

/** Reconciles running right now, by `controller`. */
export const activeWorkers = Metric.gauge("converge_active_workers", {
  description: "Number of currently used workers per controller"
})

/** 1 while this process leads, 0 otherwise, by `controller` (or the gate's name). */
export const leader = Metric.gauge("converge_leader", {
  description: "Whether this process is the leader (1) or not (0)"
})
