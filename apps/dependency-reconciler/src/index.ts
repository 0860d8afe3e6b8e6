/** Claiming runnable executions for workers (`FOR UPDATE SKIP LOCKED`). */
export * as Claims from "./Claims.js"
/** Completing an execution: terminal transition and completion event in one transaction. */
export * as Completion from "./Completion.js"
/** Dispatching a completion event along its edges, one transaction per edge, exactly once per edge. */
export * as Dispatch from "./Dispatch.js"
/** Execution states and outcomes. */
export * as Model from "./Model.js"
/** Dependency policies and their pure evaluation. */
export * as Policy from "./Policy.js"
/** The engine's tables and migrations. */
export * as Schema from "./Schema.js"
/** Validating and staging a flow in one transaction. */
export * as Staging from "./Staging.js"
