/**
 * The server side of `DepsApi`: each endpoint calls the engine (Staging, Completion, Claims,
 * Flows) against the `SqlClient` and maps its errors onto the API's tagged errors.
 */
import { type HttpApi, HttpApiBuilder } from "@effect/platform"
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Layer } from "effect"
import * as Api from "./Api.js"
import * as Claims from "./Claims.js"
import * as Completion from "./Completion.js"
import * as Flows from "./Flows.js"
import type { ExecutionState } from "./Model.js"
import * as Policy from "./Policy.js"
import * as Staging from "./Staging.js"

const databaseUnavailable = (error: SqlError.SqlError) =>
  new Api.DatabaseUnavailable({
    message: `The database failed the request (${error.message}${
      error.cause instanceof Error ? `: ${error.cause.message}` : ""
    }); try again`
  })

/** The engine's policy for an API policy. */
export const toPolicy = (spec: typeof Api.PolicySpec.Type): Policy.Policy =>
  typeof spec === "object"
    ? Policy.quorum(spec.quorum)
    : spec === "any_of"
      ? Policy.anyOf
      : spec === "all_done"
        ? Policy.allDone
        : Policy.allOf

/** The API's policy for an engine policy. */
export const fromPolicy = (policy: Policy.Policy): typeof Api.PolicySpec.Type =>
  policy._tag === "Quorum"
    ? { quorum: policy.k }
    : policy._tag === "AnyOf"
      ? "any_of"
      : policy._tag === "AllDone"
        ? "all_done"
        : "all_of"

/** The API's flow spec for an engine flow spec (the inverse of `toStagingSpec`). */
export const fromStagingSpec = (spec: Staging.FlowSpec): typeof Api.FlowSpec.Type => ({
  namespace: spec.namespace,
  instanceTag: spec.instanceTag,
  executions: spec.executions.map((execution) => ({
    name: execution.name,
    ...(execution.policy === undefined ? {} : { policy: fromPolicy(execution.policy) }),
    ...(execution.onSatisfied === undefined ? {} : { onSatisfied: execution.onSatisfied })
  })),
  edges: spec.edges
})

/** The engine's flow spec for a decoded API flow spec. */
export const toStagingSpec = (spec: typeof Api.FlowSpec.Type): Staging.FlowSpec => ({
  namespace: spec.namespace,
  instanceTag: spec.instanceTag,
  executions: spec.executions.map((execution) => ({
    name: execution.name,
    policy: execution.policy === undefined ? undefined : toPolicy(execution.policy),
    onSatisfied: execution.onSatisfied
  })),
  edges: spec.edges
})

/** Creates a flow; a rejected flow fails with `BadFlow` carrying the staging error's message. */
export const createFlow = (spec: typeof Api.FlowSpec.Type) =>
  Staging.stage(toStagingSpec(spec)).pipe(
    Effect.map((flow) => ({ flowId: flow.flowId, executions: Object.fromEntries(flow.executionIds) })),
    Effect.catchTags({
      CycleDetected: (error) => new Api.BadFlow({ reason: error._tag, message: error.message }),
      SelfEdge: (error) => new Api.BadFlow({ reason: error._tag, message: error.message }),
      UnknownExecution: (error) => new Api.BadFlow({ reason: error._tag, message: error.message }),
      DuplicateDeclaration: (error) => new Api.BadFlow({ reason: error._tag, message: error.message }),
      BadPolicy: (error) => new Api.BadFlow({ reason: error._tag, message: error.message }),
      SqlError: (error) => databaseUnavailable(error)
    })
  )

/**
 * Completes a live execution; fails with `ExecutionNotFound` when no execution has the id and
 * `ExecutionNotLive` (with its state) when it is already terminal.
 */
export const completeExecution = (
  executionId: string,
  outcome: typeof Api.WorkerOutcome.Type
): Effect.Effect<
  typeof Api.Completed.Type,
  Api.ExecutionNotFound | Api.ExecutionNotLive | Api.DatabaseUnavailable,
  SqlClient.SqlClient
> =>
  Completion.complete(executionId, outcome).pipe(
    Effect.map((eventId) => ({ executionId, eventId })),
    Effect.catchTag("ExecutionNotLive", () => notLive(executionId)),
    Effect.catchTag("SqlError", (error) => Effect.fail(databaseUnavailable(error)))
  )

// Completion cannot tell a missing execution from a terminal one; a read after the fact can.
const notLive = (executionId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly state: ExecutionState }>`
      SELECT state FROM deps_executions WHERE id = ${executionId}`
    return yield* row === undefined
      ? Effect.fail(new Api.ExecutionNotFound({ executionId, message: `No execution ${executionId}` }))
      : Effect.fail(
          new Api.ExecutionNotLive({
            executionId,
            state: row.state,
            message: `Execution ${executionId} is already ${row.state}: a terminal state is final`
          })
        )
  })

/** Claims up to `limit` runnable executions. */
export const claimExecutions = (limit: number) =>
  Claims.claimRunnable(limit).pipe(
    Effect.map((executions) => ({ executions })),
    Effect.catchTag("SqlError", (error) => databaseUnavailable(error))
  )

/** A flow with every execution's state and every group's decision. */
export const getFlow = (flowId: string) =>
  Flows.get(flowId).pipe(
    Effect.catchTags({
      FlowNotFound: (error) => new Api.FlowNotFound({ flowId, message: error.message }),
      SqlError: (error) => databaseUnavailable(error)
    })
  )

/** Cancels a flow's live executions (`cancel_all`) or those not yet running (`cancel_pending`). */
export const cancelFlow = (flowId: string, mode: typeof Api.CancelMode.Type) =>
  Flows.cancel(flowId, mode).pipe(
    Effect.catchTags({
      FlowNotFound: (error) => new Api.FlowNotFound({ flowId, message: error.message }),
      SqlError: (error) => databaseUnavailable(error)
    })
  )

/** The `flows` group's handlers. */
export const flowsLive = HttpApiBuilder.group(Api.DepsApi, "flows", (handlers) =>
  handlers
    .handle("create", ({ payload }) => createFlow(payload))
    .handle("get", ({ path }) => getFlow(path.flowId))
    .handle("cancel", ({ path, payload }) => cancelFlow(path.flowId, payload.mode))
)

/** The `executions` group's handlers. */
export const executionsLive = HttpApiBuilder.group(Api.DepsApi, "executions", (handlers) =>
  handlers
    .handle("claim", ({ payload }) => claimExecutions(payload.limit))
    .handle("complete", ({ path, payload }) => completeExecution(path.executionId, payload.outcome))
)

/** The whole API with its handlers; needs a `SqlClient`. */
export const layer: Layer.Layer<HttpApi.Api, never, SqlClient.SqlClient> = HttpApiBuilder.api(
  Api.DepsApi
).pipe(Layer.provide([flowsLive, executionsLive]))
