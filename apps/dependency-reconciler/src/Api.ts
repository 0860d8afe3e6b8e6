/**
 * The HTTP API of the dependency reconciler, typed end to end with Schema (`@effect/platform`
 * `HttpApi`): the server (`ApiHandlers`, `Server`), clients (`HttpApiClient.make(DepsApi)`) and
 * the OpenAPI document (`/openapi.json`) all derive from this one definition.
 *
 * | method and path                           | what it does                                           |
 * |-------------------------------------------|--------------------------------------------------------|
 * | `POST /flows`                             | creates a flow: executions, edges and policies at once |
 * | `GET /flows/:flowId`                      | every execution's state and every group's decision     |
 * | `POST /flows/:flowId/cancel`              | `cancel_all` or `cancel_pending`                       |
 * | `POST /executions/claim`                  | claims runnable executions (`FOR UPDATE SKIP LOCKED`)  |
 * | `POST /executions/:executionId/complete`  | `succeeded` \| `failed` \| `cancelled`                 |
 */
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "@effect/platform"
import { Schema } from "effect"
import * as Flows from "./Flows.js"

/** A database id: a positive integer, carried as a decimal string (ids are Postgres bigints). */
export const Id = Schema.String.pipe(
  Schema.pattern(/^[1-9][0-9]{0,18}$/, { message: () => "an id is a positive integer in decimal digits" })
)

/** A non-empty label or name. */
const Name = Schema.String.pipe(Schema.minLength(1, { message: () => "must not be empty" }))

/** How a downstream decides from its upstreams' outcomes; `{ "quorum": k }` needs k successes. */
export const PolicySpec = Schema.Union(
  Schema.Literal("all_of", "any_of", "all_done"),
  Schema.Struct({ quorum: Schema.Int })
).annotations({ identifier: "Policy" })

/** What happens to still-live upstream siblings once a group decides. */
export const OnSatisfied = Schema.Literal("cancel_remaining", "let_run")

/** One execution of a flow. `policy` (default `all_of`) and `onSatisfied` apply if it has upstreams. */
export const ExecutionSpec = Schema.Struct({
  name: Name,
  policy: Schema.optional(PolicySpec),
  onSatisfied: Schema.optional(OnSatisfied)
}).annotations({ identifier: "ExecutionSpec" })

/** One edge by execution names: `downstream` waits on `upstream`. */
export const EdgeSpec = Schema.Struct({ upstream: Name, downstream: Name }).annotations({
  identifier: "EdgeSpec"
})

/** A flow to create: its labels (default `"default"`), executions and edges. */
export const FlowSpec = Schema.Struct({
  namespace: Schema.optionalWith(Name, { default: () => "default" }),
  instanceTag: Schema.optionalWith(Name, { default: () => "default" }),
  executions: Schema.Array(ExecutionSpec).pipe(
    Schema.minItems(1, { message: () => "a flow needs an execution" })
  ),
  edges: Schema.optionalWith(Schema.Array(EdgeSpec), { default: () => [] })
}).annotations({ identifier: "FlowSpec" })

/** A created flow: its id and each execution's id by name. */
export const CreatedFlow = Schema.Struct({
  flowId: Id,
  executions: Schema.Record({ key: Schema.String, value: Id })
}).annotations({ identifier: "CreatedFlow" })

/** An execution's state; the last four are terminal. */
export const ExecutionState = Schema.Literal(
  "blocked",
  "runnable",
  "running",
  "succeeded",
  "failed",
  "cancelled",
  "skipped"
)

/** The outcome a worker reports. */
export const WorkerOutcome = Schema.Literal("succeeded", "failed", "cancelled")

/** A flow with every execution's state and every group's decision (`Flows.get`). */
export const FlowView = Flows.FlowView.annotations({ identifier: "FlowView" })

/** `cancel_all` cancels every live execution (running ones too); `cancel_pending` spares running ones. */
export const CancelMode = Flows.CancelMode

/** What cancelling a flow did: the executions cancelled and their completion events, in id order. */
export const CancelledFlow = Schema.Struct({
  flowId: Id,
  mode: CancelMode,
  cancelled: Schema.Array(Id),
  events: Schema.Array(Id)
}).annotations({ identifier: "CancelledFlow" })

/** A completed execution and the completion event written with it. */
export const Completed = Schema.Struct({ executionId: Id, eventId: Id }).annotations({
  identifier: "Completed"
})

/** A claimed execution, now `running`. */
export const ClaimedExecution = Schema.Struct({ id: Id, flowId: Id, name: Schema.String }).annotations({
  identifier: "ClaimedExecution"
})

/** The most executions one claim may take. */
export const maxClaim = 1000

/** The flow was rejected (cycle, self-edge, unknown execution, duplicate, bad policy); nothing was written. */
export class BadFlow extends Schema.TaggedError<BadFlow>()(
  "BadFlow",
  { reason: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 400 })
) {}

/** No flow has this id. */
export class FlowNotFound extends Schema.TaggedError<FlowNotFound>()(
  "FlowNotFound",
  { flowId: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** No execution has this id. */
export class ExecutionNotFound extends Schema.TaggedError<ExecutionNotFound>()(
  "ExecutionNotFound",
  { executionId: Schema.String, message: Schema.String },
  HttpApiSchema.annotations({ status: 404 })
) {}

/** The execution is already terminal: its outcome cannot change. */
export class ExecutionNotLive extends Schema.TaggedError<ExecutionNotLive>()(
  "ExecutionNotLive",
  { executionId: Schema.String, state: ExecutionState, message: Schema.String },
  HttpApiSchema.annotations({ status: 409 })
) {}

/** The database failed the request; it can be retried. */
export class DatabaseUnavailable extends Schema.TaggedError<DatabaseUnavailable>()(
  "DatabaseUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503 })
) {}

const flowId = HttpApiSchema.param("flowId", Id)
const executionId = HttpApiSchema.param("executionId", Id)

/** Flows: create, get, cancel. */
export class FlowsGroup extends HttpApiGroup.make("flows")
  .add(
    HttpApiEndpoint.post("create", "/flows")
      .setPayload(FlowSpec)
      .addSuccess(CreatedFlow, { status: 201 })
      .addError(BadFlow)
  )
  .add(HttpApiEndpoint.get("get")`/flows/${flowId}`.addSuccess(FlowView).addError(FlowNotFound))
  .add(
    HttpApiEndpoint.post("cancel")`/flows/${flowId}/cancel`
      .setPayload(Schema.Struct({ mode: CancelMode }))
      .addSuccess(CancelledFlow)
      .addError(FlowNotFound)
  )
  .addError(DatabaseUnavailable) {}

/** Executions: the calls workers make. */
export class ExecutionsGroup extends HttpApiGroup.make("executions")
  .add(
    HttpApiEndpoint.post("claim", "/executions/claim")
      .setPayload(
        Schema.Struct({
          limit: Schema.Int.pipe(
            Schema.between(1, maxClaim, { message: () => `limit must be an integer from 1 to ${maxClaim}` })
          )
        })
      )
      .addSuccess(Schema.Struct({ executions: Schema.Array(ClaimedExecution) }))
  )
  .add(
    HttpApiEndpoint.post("complete")`/executions/${executionId}/complete`
      .setPayload(Schema.Struct({ outcome: WorkerOutcome }))
      .addSuccess(Completed)
      .addError(ExecutionNotFound)
      .addError(ExecutionNotLive)
  )
  .addError(DatabaseUnavailable) {}

/** The whole API. */
export class DepsApi extends HttpApi.make("converge-deps")
  .add(FlowsGroup)
  .add(ExecutionsGroup)
  .annotate(OpenApi.Title, "converge-deps")
  .annotate(
    OpenApi.Description,
    "A Postgres-backed DAG dependency engine: create flows, claim and complete executions, cancel and inspect flows."
  ) {}
