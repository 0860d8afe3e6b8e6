/**
 * The engine's domain types: execution states, outcomes and ids.
 */

/** The state of an execution; the last four are terminal and final. */
export type ExecutionState =
  | "blocked"
  | "runnable"
  | "running"
  | "succeeded"
  | "failed"
  | "cancelled"
  | "skipped"

/** The outcome a worker reports for an execution. */
export type WorkerOutcome = "succeeded" | "failed" | "cancelled"

/** The outcome a completion event carries: a worker's, or `skipped` from an impossible group. */
export type Outcome = WorkerOutcome | "skipped"

/** The terminal states. */
export const terminalStates: ReadonlyArray<ExecutionState> = ["succeeded", "failed", "cancelled", "skipped"]

/** The live (not terminal) states. */
export const liveStates: ReadonlyArray<ExecutionState> = ["blocked", "runnable", "running"]

/** Whether `state` is terminal. */
export const isTerminal = (state: ExecutionState): boolean => terminalStates.includes(state)
