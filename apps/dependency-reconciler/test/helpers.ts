import type { Migrations } from "@converge/pg"
import { TestDatabase } from "@converge/testing"
import { SqlClient, type SqlError } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import * as Dispatch from "../src/Dispatch.js"
import * as Schema from "../src/Schema.js"
import * as Staging from "../src/Staging.js"

/** A migrated test database for one file. */
export const migratedDatabase: Layer.Layer<
  TestDatabase.TestDatabase | PgClient.PgClient | SqlClient.SqlClient,
  TestDatabase.TestDatabaseError | SqlError.SqlError | Migrations.MigrationFailed
> = Layer.provideMerge(Layer.effectDiscard(Schema.migrate), TestDatabase.layer)

/** Stages a flow under a fresh namespace and returns its ids. */
export const stage = (
  executions: ReadonlyArray<Staging.ExecutionSpec>,
  edges: ReadonlyArray<readonly [string, string]>,
  labels: { readonly namespace: string; readonly instanceTag: string } = {
    namespace: "ns",
    instanceTag: "tag"
  }
) =>
  Staging.stage({
    ...labels,
    executions,
    edges: edges.map(([upstream, downstream]) => ({ upstream, downstream }))
  }).pipe(
    Effect.map((flow) => ({
      flowId: flow.flowId,
      id: (name: string): string => flow.executionIds.get(name) ?? ""
    }))
  )

/** Each execution's state by name in `flowId`. */
export const states = (flowId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly name: string; readonly state: string }>`
      SELECT name, state FROM deps_executions WHERE flow_id = ${flowId} ORDER BY id`
    return Object.fromEntries(rows.map((row) => [row.name, row.state]))
  })

/** Dispatches the flow's pending events in id order until none is left; returns how many were dispatched. */
export const drain = (flowId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    let dispatched = 0
    for (;;) {
      const [next] = yield* sql<{ readonly id: string }>`
        SELECT id::text AS id FROM deps_completion_events
        WHERE flow_id = ${flowId} AND dispatched_at IS NULL ORDER BY deps_completion_events.id LIMIT 1`
      if (next === undefined) return dispatched
      yield* Dispatch.dispatch(next.id)
      dispatched++
    }
  })

/** The flow's completion events in id order. */
export const events = (flowId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{
      readonly id: string
      readonly name: string
      readonly outcome: string
      readonly namespace: string
      readonly instance_tag: string
      readonly dispatched: boolean
      readonly attempts: number
      readonly last_error: string | null
    }>`
      SELECT c.id::text AS id, e.name, c.outcome, c.namespace, c.instance_tag,
             c.dispatched_at IS NOT NULL AS dispatched, c.attempts, c.last_error
      FROM deps_completion_events c JOIN deps_executions e ON e.id = c.execution_id
      WHERE c.flow_id = ${flowId} ORDER BY c.id`
  })

/** A downstream's group counters and decision. */
export const group = (downstreamId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{
      readonly succeeded: number
      readonly not_succeeded: number
      readonly decision: string
    }>`
      SELECT succeeded, not_succeeded, decision FROM deps_edge_groups WHERE downstream_id = ${downstreamId}`
    return row
  })
