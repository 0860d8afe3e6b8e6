/**
 * A reference evaluation of a flow, independent of the engine: given the DAG, each execution's
 * policy and the outcome its worker reports, the final state of every execution — plus the
 * bookkeeping invariants the engine must leave in Postgres once everything is dispatched.
 *
 * Only meaningful for `let_run` groups: with `cancel_remaining`, which siblings are cancelled
 * depends on timing, while under `let_run` every policy's one-shot decision equals its
 * evaluation on the final counters (the counters only grow and each policy is monotone).
 */
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { ExecutionState, WorkerOutcome } from "../src/Model.js"
import * as Policy from "../src/Policy.js"
import type * as Staging from "../src/Staging.js"

/** The final state of every execution of `spec` when the worker reports `outcomeOf(name)` for each one it runs. */
export const expectedStates = (
  spec: Staging.FlowSpec,
  outcomeOf: (name: string) => WorkerOutcome
): ReadonlyMap<string, ExecutionState> => {
  const upstreamsOf = new Map<string, Array<string>>()
  for (const edge of spec.edges) {
    upstreamsOf.set(edge.downstream, [...(upstreamsOf.get(edge.downstream) ?? []), edge.upstream])
  }
  const states = new Map<string, ExecutionState>()
  const stateOf = (name: string): ExecutionState => {
    const known = states.get(name)
    if (known !== undefined) return known
    const upstreams = upstreamsOf.get(name) ?? []
    const execution = spec.executions.find((candidate) => candidate.name === name)
    let state: ExecutionState
    if (upstreams.length === 0) {
      state = outcomeOf(name)
    } else {
      const outcomes = upstreams.map(stateOf)
      const succeeded = outcomes.filter((outcome) => outcome === "succeeded").length
      const decision = Policy.evaluate(execution?.policy ?? Policy.allOf, {
        total: upstreams.length,
        succeeded,
        notSucceeded: upstreams.length - succeeded
      })
      state = decision === "satisfied" ? outcomeOf(name) : decision === "impossible" ? "skipped" : "blocked"
    }
    states.set(name, state)
    return state
  }
  for (const execution of spec.executions) stateOf(execution.name)
  return states
}

/** Each execution's state by name in flow `flowId`. */
export const actualStates = (flowId: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly name: string; readonly state: ExecutionState }>`
      SELECT name, state FROM deps_executions WHERE flow_id = ${flowId} ORDER BY id`.pipe(
      Effect.map((rows) => new Map(rows.map((row) => [row.name, row.state])))
    )
  )

/** Bookkeeping that must hold once a flow is fully dispatched; every list is empty when it does. */
export interface Violations {
  /** Groups whose counters differ from their applied edges counted by upstream outcome. */
  readonly countersOffEdges: ReadonlyArray<string>
  /** Edges whose upstream is terminal but which were never applied. */
  readonly unappliedEdges: ReadonlyArray<string>
  /** Completion events not dispatched. */
  readonly pendingEvents: ReadonlyArray<string>
  /** Executions without exactly one completion event for their terminal state (none while live). */
  readonly eventCountsOff: ReadonlyArray<string>
}

/** Checks flow `flowId`'s bookkeeping in Postgres. */
export const violations = (flowId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const countersOffEdges = yield* sql<{ readonly name: string }>`
      SELECT e.name FROM deps_edge_groups g JOIN deps_executions e ON e.id = g.downstream_id
      CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE u.state = 'succeeded')::int AS succeeded,
               count(*) FILTER (WHERE u.state <> 'succeeded')::int AS not_succeeded
        FROM deps_edges d JOIN deps_executions u ON u.id = d.upstream_id
        WHERE d.downstream_id = g.downstream_id AND d.applied_event_id IS NOT NULL
      ) applied
      WHERE e.flow_id = ${flowId}
        AND (g.succeeded <> applied.succeeded OR g.not_succeeded <> applied.not_succeeded)`
    const unappliedEdges = yield* sql<{ readonly edge: string }>`
      SELECT u.name || ' -> ' || e.name AS edge
      FROM deps_edges d JOIN deps_executions u ON u.id = d.upstream_id JOIN deps_executions e ON e.id = d.downstream_id
      WHERE u.flow_id = ${flowId} AND d.applied_event_id IS NULL
        AND u.state IN ('succeeded', 'failed', 'cancelled', 'skipped')`
    const pendingEvents = yield* sql<{ readonly id: string }>`
      SELECT id::text AS id FROM deps_completion_events WHERE flow_id = ${flowId} AND dispatched_at IS NULL`
    const eventCountsOff = yield* sql<{ readonly name: string }>`
      SELECT e.name FROM deps_executions e
      WHERE e.flow_id = ${flowId} AND (
        SELECT count(*) FROM deps_completion_events c WHERE c.execution_id = e.id AND c.outcome = e.state
      ) <> (CASE WHEN e.state IN ('succeeded', 'failed', 'cancelled', 'skipped') THEN 1 ELSE 0 END)
      OR e.flow_id = ${flowId} AND (SELECT count(*) FROM deps_completion_events c WHERE c.execution_id = e.id) > 1`
    return {
      countersOffEdges: countersOffEdges.map((row) => row.name),
      unappliedEdges: unappliedEdges.map((row) => row.edge),
      pendingEvents: pendingEvents.map((row) => row.id),
      eventCountsOff: eventCountsOff.map((row) => row.name)
    } satisfies Violations
  })

/** No violations at all. */
export const none: Violations = {
  countersOffEdges: [],
  unappliedEdges: [],
  pendingEvents: [],
  eventCountsOff: []
}

/** A small deterministic hash of a string, for outcomes that are the same on every run and replica. */
export const hashOf = (text: string): number => {
  let hash = 2166136261
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index)
    hash = Math.imul(hash, 16777619)
  }
  return hash >>> 0
}

/** Mostly `succeeded`, some `failed`, a few `cancelled`, decided by the name alone. */
export const deterministicOutcome = (name: string): WorkerOutcome => {
  const draw = hashOf(name) % 100
  return draw < 70 ? "succeeded" : draw < 92 ? "failed" : "cancelled"
}

/**
 * A four-level DAG of `width` executions per level, named `<prefix>L<level>-<index>`, each below
 * the first with two or three upstreams of the level above and a policy cycling through all_of,
 * any_of, quorum(2) and all_done, every group `let_run`.
 */
export const fourLevelDag = (prefix: string, width: number): Staging.FlowSpec => {
  const name = (level: number, index: number) => `${prefix}L${level}-${index}`
  const policies: ReadonlyArray<Policy.Policy> = [
    Policy.allOf,
    Policy.anyOf,
    Policy.quorum(2),
    Policy.allDone
  ]
  const executions: Array<Staging.ExecutionSpec> = []
  const edges: Array<Staging.EdgeSpec> = []
  for (let level = 0; level < 4; level++) {
    for (let index = 0; index < width; index++) {
      if (level === 0) {
        executions.push({ name: name(level, index) })
        continue
      }
      const upstreamCount = 2 + ((index + level) % 2)
      const upstreams = Array.from({ length: upstreamCount }, (_, offset) =>
        name(level - 1, (index + offset) % width)
      )
      for (const upstream of upstreams) edges.push({ upstream, downstream: name(level, index) })
      executions.push({
        name: name(level, index),
        policy: policies[(index + level) % policies.length] ?? Policy.allOf,
        onSatisfied: "let_run"
      })
    }
  }
  return { namespace: "crash", instanceTag: prefix, executions, edges }
}
