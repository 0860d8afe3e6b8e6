/**
 * Claiming runnable executions for workers.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect } from "effect"

/** A claimed execution, now `running`. */
export interface Claimed {
  readonly id: string
  readonly flowId: string
  readonly name: string
}

/**
 * Moves up to `limit` runnable executions (oldest first) to `running` and returns them.
 * `FOR UPDATE SKIP LOCKED` lets concurrent claimers take disjoint sets without waiting.
 */
export const claimRunnable = (
  limit: number
): Effect.Effect<ReadonlyArray<Claimed>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly id: string; readonly flow_id: string; readonly name: string }>`
      UPDATE deps_executions SET state = 'running'
      WHERE id IN (
        SELECT id FROM deps_executions WHERE state = 'runnable'
        ORDER BY id LIMIT ${limit} FOR UPDATE SKIP LOCKED
      )
      RETURNING id::text AS id, flow_id::text AS flow_id, name`
    return rows.map((row) => ({ id: row.id, flowId: row.flow_id, name: row.name }))
  })
