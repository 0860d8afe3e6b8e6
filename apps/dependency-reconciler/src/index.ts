/** Claiming runnable executions for workers (`FOR UPDATE SKIP LOCKED`). */

/** The Schema-typed HTTP API (`HttpApi`): create, get and cancel flows; claim and complete executions. */
export * as Api from "./Api.js"
/** The API's handlers: each endpoint on the engine, with errors mapped to 400 / 404 / 409 / 503. */
export * as ApiHandlers from "./ApiHandlers.js"
export * as Claims from "./Claims.js"
/** Completing an execution: terminal transition and completion event in one statement. */
export * as Completion from "./Completion.js"
/** The engine's metrics (`converge_deps_*`) and the engine's status for `/status`. */
export * as DepsMetrics from "./DepsMetrics.js"
/** Dispatching a completion event along its edges, one transaction per edge, exactly once per edge. */
export * as Dispatch from "./Dispatch.js"
/** The engine's runtime in one scoped effect: migrations, push dispatcher, sweeper. */
export * as Engine from "./Engine.js"
/** Cancelling a flow and reading it back with every execution and group. */
export * as Flows from "./Flows.js"
/** In-process per-group locks: one hop per edge group at a time in a dispatcher. */
export * as GroupLocks from "./GroupLocks.js"
/** `converge-deps run` composed: database, engine, API server and status server. */
export * as Main from "./Main.js"
/** Execution states and outcomes. */
export * as Model from "./Model.js"
/** Dependency policies and their pure evaluation. */
export * as Policy from "./Policy.js"
/** The LISTEN/NOTIFY push dispatcher, replaying pending events on every (re)subscription. */
export * as PushDispatcher from "./PushDispatcher.js"
/** A sample workload: flows of four shapes and simulated workers with a failure rate. */
export * as SampleWorkload from "./SampleWorkload.js"
/** The engine's tables and migrations. */
export * as Schema from "./Schema.js"
/** Serving the API (with `/openapi.json`) next to the status server. */
export * as Server from "./Server.js"
/** Validating and staging a flow in one transaction. */
export * as Staging from "./Staging.js"
/** The stale-event sweeper on the core `Sweeper`. */
export * as StaleSweeper from "./StaleSweeper.js"
