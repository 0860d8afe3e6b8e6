/** Typed event sinks, fan-out, and the status / metrics / log observers. */
export * as Observer from "./Observer.js"
/** The standard metrics: `converge_reconcile_total` and friends, after controller-runtime. */
export * as Metrics from "./Metrics.js"
/** Leadership: `isLeader`, fencing `term`, `whileLeader`; `always` and a controlled gate. */
export * as LeaderGate from "./LeaderGate.js"
/** A typed, observable status snapshot with a Schema. */
export * as Status from "./Status.js"
