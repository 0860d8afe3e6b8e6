/**
 * Completing an execution: its terminal transition and its completion event, in one statement.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Data, Effect } from "effect"
import type { Outcome, WorkerOutcome } from "./Model.js"

/** No live execution has this id (it does not exist, or is already terminal). */
export class ExecutionNotLive extends Data.TaggedError("ExecutionNotLive")<{
  readonly executionId: string
  readonly message: string
}> {}

/** Where a completion event's namespace and instance tag come from when it is written. */
export interface EventLabels {
  readonly namespace: string
  readonly instanceTag: string
}

/**
 * Inserts a completion event for `executionId` (to be used inside the transaction that made it
 * terminal). Returns the event id; its trigger NOTIFYs that id at commit.
 */
export const insertEvent = (
  executionId: string,
  outcome: Outcome,
  labels: EventLabels
): Effect.Effect<string, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly id: string }>`
      INSERT INTO deps_completion_events (execution_id, flow_id, outcome, namespace, instance_tag)
      SELECT id, flow_id, ${outcome}, ${labels.namespace}, ${labels.instanceTag}
      FROM deps_executions WHERE id = ${executionId}
      RETURNING id::text AS id`
    return row?.id ?? ""
  })

/**
 * Moves a live execution to `outcome` and writes its completion event (labelled with the
 * flow's namespace and instance tag) in one statement, hence one transaction: both commit or
 * neither does. Returns the event id; fails with `ExecutionNotLive` (writing nothing) if it is
 * not live.
 */
export const complete = (
  executionId: string,
  outcome: WorkerOutcome
): Effect.Effect<string, ExecutionNotLive | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly id: string }>`
      WITH done AS (
        UPDATE deps_executions e SET state = ${outcome}, finished_at = clock_timestamp()
        FROM deps_flows f
        WHERE e.id = ${executionId} AND f.id = e.flow_id
          AND e.state IN ('blocked', 'runnable', 'running')
        RETURNING e.id, e.flow_id, f.namespace, f.instance_tag
      )
      INSERT INTO deps_completion_events (execution_id, flow_id, outcome, namespace, instance_tag)
      SELECT id, flow_id, ${outcome}, namespace, instance_tag FROM done
      RETURNING id::text AS id`
    if (row === undefined) {
      return yield* new ExecutionNotLive({
        executionId,
        message: `Execution ${executionId} does not exist or is already terminal`
      })
    }
    return row.id
  })
