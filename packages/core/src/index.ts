/** Connection-style backoff that restarts from the initial delay after a stable period. */
export * as Backoff from "./Backoff.js"
/** The reconcile loop: a work queue, workers while leader, retries, resync, triggers, graceful shutdown. */
export * as Controller from "./Controller.js"
/** Settles a record of signals once a window passes quietly; `maxWait`, `flush`, `close`; failures reported. */
export * as Debouncer from "./Debouncer.js"
/** One observer feeding many, each behind its own bounded buffer and fiber; full buffers drop and count. */
export * as FanOut from "./FanOut.js"
/** One independent debounce window per key, forgotten once the key settles. */
export * as KeyedDebouncer from "./KeyedDebouncer.js"
/** Leadership: `isLeader`, fencing `term`, `whileLeader`; `always` and a controlled gate. */
export * as LeaderGate from "./LeaderGate.js"
/** The standard metrics: `converge_reconcile_total` and friends, after controller-runtime. */
export * as Metrics from "./Metrics.js"
/** Typed event sinks, and the status / metrics / log observers. */
export * as Observer from "./Observer.js"
/** What a reconcile returns: `Done`, `RequeueAfter { delay }` or `AwaitChange`. */
export * as Outcome from "./Outcome.js"
/** A level-triggered, idempotent `reconcile(key)`, and the `Terminal` (do-not-retry) error. */
export * as Reconciler from "./Reconciler.js"
/** Schema-encodable retry policies: capped exponential delays, attempts, jitter, terminal tags; `toSchedule`. */
export * as RetryPolicy from "./RetryPolicy.js"
/** A typed, observable status snapshot with a Schema. */
export * as Status from "./Status.js"
/** A periodic, leader-gated tick whose reports and failures go to an observer; `runOnce` for CLIs. */
export * as Sweeper from "./Sweeper.js"
/** A keyed work queue: dedup, no concurrent runs of a key, delays, per-key backoff, token bucket. */
export * as WorkQueue from "./WorkQueue.js"
