/**
 * Whole flows: cancelling one and reading one back.
 *
 * A flow is `running` until none of its executions is live; then `finished_at` is set and a
 * running flow becomes `finished` (migration 0002, checked at each terminal transition's commit).
 * Cancelling marks it `cancelled` at once; `finished_at` follows when its last execution ends.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Data, Effect, Schema } from "effect"
import { insertEvent } from "./Completion.js"

/** How much of a flow to cancel. */
export const CancelMode = Schema.Literal("cancel_all", "cancel_pending")

/** `cancel_all`: every live execution, running ones too; `cancel_pending`: only the not yet claimed (`blocked`, `runnable`). */
export type CancelMode = typeof CancelMode.Type

/** No flow has this id. */
export class FlowNotFound extends Data.TaggedError("FlowNotFound")<{
  readonly flowId: string
  readonly message: string
}> {}

/** What `cancel` did. */
export interface CancelResult {
  readonly flowId: string
  readonly mode: CancelMode
  /** The executions it cancelled, in id order. */
  readonly cancelled: ReadonlyArray<string>
  /** Their completion events, in the same order. */
  readonly events: ReadonlyArray<string>
}

/** One execution of a flow as `get` reads it. */
export const ExecutionView = Schema.Struct({
  id: Schema.String,
  name: Schema.String,
  state: Schema.Literal("blocked", "runnable", "running", "succeeded", "failed", "cancelled", "skipped"),
  /** The terminal state, or null while live. */
  outcome: Schema.NullOr(Schema.Literal("succeeded", "failed", "cancelled", "skipped")),
  /** Why it was cancelled or skipped, or null. */
  reason: Schema.NullOr(Schema.String),
  finishedAt: Schema.NullOr(Schema.Date)
})

/** One execution of a flow as `get` reads it. */
export type ExecutionView = typeof ExecutionView.Type

/** The edge group of one downstream as `get` reads it. */
export const GroupView = Schema.Struct({
  downstreamId: Schema.String,
  downstream: Schema.String,
  policy: Schema.Literal("all_of", "any_of", "quorum", "all_done"),
  /** k for `quorum`, else null. */
  quorumK: Schema.NullOr(Schema.Number),
  onSatisfied: Schema.Literal("cancel_remaining", "let_run"),
  /** Upstreams of the group. */
  total: Schema.Number,
  succeeded: Schema.Number,
  notSucceeded: Schema.Number,
  decision: Schema.Literal("pending", "satisfied", "impossible"),
  decidedAt: Schema.NullOr(Schema.Date)
})

/** The edge group of one downstream as `get` reads it. */
export type GroupView = typeof GroupView.Type

/** A flow with every execution's state and every group's decision, as `get` reads it. */
export const FlowView = Schema.Struct({
  id: Schema.String,
  namespace: Schema.String,
  instanceTag: Schema.String,
  state: Schema.Literal("running", "finished", "cancelled"),
  createdAt: Schema.Date,
  /** When its last execution ended, or null while any is live. */
  finishedAt: Schema.NullOr(Schema.Date),
  /** In id order. */
  executions: Schema.Array(ExecutionView),
  /** In downstream id order. */
  groups: Schema.Array(GroupView)
})

/** A flow with every execution's state and every group's decision. */
export type FlowView = typeof FlowView.Type

const cancellableStates = (mode: CancelMode): ReadonlyArray<string> =>
  mode === "cancel_all" ? ["blocked", "runnable", "running"] : ["blocked", "runnable"]

/**
 * Cancels flow `flowId` in one transaction: each live execution the mode covers becomes
 * `cancelled` with a stored reason and gets its own completion event (so the cascade carries on
 * and their downstreams' groups count them), and the flow becomes `cancelled`. Cancelling a
 * finished flow cancels nothing. Fails with `FlowNotFound` when there is no such flow.
 */
export const cancel = (
  flowId: string,
  mode: CancelMode
): Effect.Effect<CancelResult, FlowNotFound | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        const [flow] = yield* sql<{ readonly namespace: string; readonly instance_tag: string }>`
          SELECT namespace, instance_tag FROM deps_flows WHERE id = ${flowId}`
        if (flow === undefined) {
          return yield* new FlowNotFound({
            flowId,
            message: `No flow ${flowId}: check the id (flow get lists it)`
          })
        }
        const reason = `flow ${flowId} cancelled (${mode})`
        // Executions are locked in id order (as sibling cancels do) and the flow row last, as the
        // finished-flow check at commit does, so a cancel never deadlocks with hops or completions.
        const cancelled = yield* sql<{ readonly id: string }>`
          UPDATE deps_executions SET state = 'cancelled', finished_at = clock_timestamp(), cancel_reason = ${reason}
          WHERE id IN (
            SELECT id FROM deps_executions
            WHERE flow_id = ${flowId} AND state IN ${sql.in(cancellableStates(mode))}
            ORDER BY id FOR UPDATE
          )
          RETURNING id::text AS id`
        const ids = cancelled.map((row) => row.id).sort((left, right) => Number(BigInt(left) - BigInt(right)))
        const labels = { namespace: flow.namespace, instanceTag: flow.instance_tag }
        const events = yield* Effect.forEach(ids, (id) => insertEvent(id, "cancelled", labels))
        yield* sql`UPDATE deps_flows SET state = 'cancelled' WHERE id = ${flowId} AND state = 'running'`
        return { flowId, mode, cancelled: ids, events }
      })
    )
  })

interface FlowRow {
  readonly id: string
  readonly namespace: string
  readonly instance_tag: string
  readonly state: FlowView["state"]
  readonly created_at: Date
  readonly finished_at: Date | null
}

interface ExecutionRow {
  readonly id: string
  readonly name: string
  readonly state: ExecutionView["state"]
  readonly cancel_reason: string | null
  readonly finished_at: Date | null
}

interface GroupRow {
  readonly downstream_id: string
  readonly downstream: string
  readonly policy: GroupView["policy"]
  readonly quorum_k: number | null
  readonly on_satisfied: GroupView["onSatisfied"]
  readonly total: number
  readonly succeeded: number
  readonly not_succeeded: number
  readonly decision: GroupView["decision"]
  readonly decided_at: Date | null
}

const outcomeOf = (state: ExecutionView["state"]): ExecutionView["outcome"] =>
  state === "succeeded" || state === "failed" || state === "cancelled" || state === "skipped" ? state : null

/**
 * Reads flow `flowId` with every execution and every edge group, from one snapshot (a
 * repeatable-read, read-only transaction). Fails with `FlowNotFound` when there is no such flow.
 */
export const get = (
  flowId: string
): Effect.Effect<FlowView, FlowNotFound | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY`
        const [flow] = yield* sql<FlowRow>`
          SELECT id::text AS id, namespace, instance_tag, state, created_at, finished_at
          FROM deps_flows WHERE id = ${flowId}`
        if (flow === undefined) {
          return yield* new FlowNotFound({
            flowId,
            message: `No flow ${flowId}: check the id (flow get lists it)`
          })
        }
        const executions = yield* sql<ExecutionRow>`
          SELECT id::text AS id, name, state, cancel_reason, finished_at
          FROM deps_executions e WHERE flow_id = ${flowId} ORDER BY e.id`
        const groups = yield* sql<GroupRow>`
          SELECT g.downstream_id::text AS downstream_id, e.name AS downstream, g.policy, g.quorum_k,
                 g.on_satisfied, g.total, g.succeeded, g.not_succeeded, g.decision, g.decided_at
          FROM deps_edge_groups g JOIN deps_executions e ON e.id = g.downstream_id
          WHERE e.flow_id = ${flowId} ORDER BY g.downstream_id`
        return {
          id: flow.id,
          namespace: flow.namespace,
          instanceTag: flow.instance_tag,
          state: flow.state,
          createdAt: flow.created_at,
          finishedAt: flow.finished_at,
          executions: executions.map((row) => ({
            id: row.id,
            name: row.name,
            state: row.state,
            outcome: outcomeOf(row.state),
            reason: row.cancel_reason,
            finishedAt: row.finished_at
          })),
          groups: groups.map((row) => ({
            downstreamId: row.downstream_id,
            downstream: row.downstream,
            policy: row.policy,
            quorumK: row.quorum_k,
            onSatisfied: row.on_satisfied,
            total: row.total,
            succeeded: row.succeeded,
            notSucceeded: row.not_succeeded,
            decision: row.decision,
            decidedAt: row.decided_at
          }))
        }
      })
    )
  })
