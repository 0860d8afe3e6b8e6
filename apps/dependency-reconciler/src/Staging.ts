/**
 * Staging a flow: validating a DAG of executions, edges and policies, then writing it in one
 * transaction. A rejected flow writes nothing.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Data, Effect } from "effect"
import * as Policy from "./Policy.js"

/** One execution of a flow to stage; `policy` and `onSatisfied` apply only if it has upstreams. */
export interface ExecutionSpec {
  readonly name: string
  readonly policy?: Policy.Policy | undefined
  readonly onSatisfied?: Policy.OnSatisfied | undefined
}

/** One edge, by execution names: `downstream` waits on `upstream`. */
export interface EdgeSpec {
  readonly upstream: string
  readonly downstream: string
}

/** A flow to stage. */
export interface FlowSpec {
  readonly namespace: string
  readonly instanceTag: string
  readonly executions: ReadonlyArray<ExecutionSpec>
  readonly edges: ReadonlyArray<EdgeSpec>
}

/** A staged flow: its id and each execution's id by name. */
export interface StagedFlow {
  readonly flowId: string
  readonly executionIds: ReadonlyMap<string, string>
}

/** The flow's edges form a cycle; `path` lists the executions around it. */
export class CycleDetected extends Data.TaggedError("CycleDetected")<{
  readonly path: ReadonlyArray<string>
  readonly message: string
}> {}

/** An edge joins an execution to itself. */
export class SelfEdge extends Data.TaggedError("SelfEdge")<{
  readonly execution: string
  readonly message: string
}> {}

/** An edge names an execution the flow does not declare. */
export class UnknownExecution extends Data.TaggedError("UnknownExecution")<{
  readonly execution: string
  readonly message: string
}> {}

/** Two executions share a name, or an edge is declared twice. */
export class DuplicateDeclaration extends Data.TaggedError("DuplicateDeclaration")<{
  readonly message: string
}> {}

/** An execution's policy cannot hold for its upstreams (e.g. quorum k out of range). */
export class BadPolicy extends Data.TaggedError("BadPolicy")<{
  readonly execution: string
  readonly message: string
}> {}

/** Why a flow was rejected; nothing was written. */
export type StagingError = CycleDetected | SelfEdge | UnknownExecution | DuplicateDeclaration | BadPolicy

/** Validates `spec` without touching the database; returns the first problem found, if any. */
export const validate = (spec: FlowSpec): StagingError | undefined => {
  const names = new Set<string>()
  for (const execution of spec.executions) {
    if (names.has(execution.name)) {
      return new DuplicateDeclaration({ message: `Execution "${execution.name}" is declared twice` })
    }
    names.add(execution.name)
  }
  const upstreamsOf = new Map<string, Array<string>>()
  const seenEdges = new Set<string>()
  for (const edge of spec.edges) {
    for (const name of [edge.upstream, edge.downstream]) {
      if (!names.has(name)) {
        return new UnknownExecution({ execution: name, message: `Edge names unknown execution "${name}"` })
      }
    }
    if (edge.upstream === edge.downstream) {
      return new SelfEdge({
        execution: edge.upstream,
        message: `Execution "${edge.upstream}" depends on itself`
      })
    }
    const key = JSON.stringify([edge.upstream, edge.downstream])
    if (seenEdges.has(key)) {
      return new DuplicateDeclaration({
        message: `Edge "${edge.upstream}" → "${edge.downstream}" is declared twice`
      })
    }
    seenEdges.add(key)
    const upstreams = upstreamsOf.get(edge.downstream) ?? []
    upstreams.push(edge.upstream)
    upstreamsOf.set(edge.downstream, upstreams)
  }
  for (const execution of spec.executions) {
    const upstreams = upstreamsOf.get(execution.name)?.length ?? 0
    if (upstreams === 0) continue
    const invalid = Policy.validate(execution.policy ?? Policy.allOf, upstreams)
    if (invalid !== undefined) {
      return new BadPolicy({
        execution: execution.name,
        message: `Execution "${execution.name}": ${invalid.message}`
      })
    }
  }
  const cycle = findCycle(spec.executions, upstreamsOf)
  if (cycle !== undefined) {
    return new CycleDetected({ path: cycle, message: `The edges form a cycle: ${cycle.join(" → ")}` })
  }
  return undefined
}

// Depth-first search over upstream links; returns the cycle's names in order if one exists.
const findCycle = (
  executions: ReadonlyArray<ExecutionSpec>,
  upstreamsOf: ReadonlyMap<string, ReadonlyArray<string>>
): ReadonlyArray<string> | undefined => {
  const finished = new Set<string>()
  const onPath: Array<string> = []
  const visit = (name: string): ReadonlyArray<string> | undefined => {
    const index = onPath.indexOf(name)
    if (index >= 0) return [...onPath.slice(index), name]
    if (finished.has(name)) return undefined
    onPath.push(name)
    for (const upstream of upstreamsOf.get(name) ?? []) {
      const cycle = visit(upstream)
      if (cycle !== undefined) return cycle
    }
    onPath.pop()
    finished.add(name)
    return undefined
  }
  for (const execution of executions) {
    const cycle = visit(execution.name)
    if (cycle !== undefined) return cycle
  }
  return undefined
}

/**
 * Validates and writes `spec` in one transaction: the flow, its executions (`runnable` when
 * they have no upstream, else `blocked`), one edge group per downstream and the edges.
 * Fails with a `StagingError` and writes nothing when the flow is invalid.
 */
export const stage = (
  spec: FlowSpec
): Effect.Effect<StagedFlow, StagingError | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const invalid = validate(spec)
    if (invalid !== undefined) return yield* invalid
    const sql = yield* SqlClient.SqlClient
    const upstreamCount = new Map<string, number>()
    for (const edge of spec.edges)
      upstreamCount.set(edge.downstream, (upstreamCount.get(edge.downstream) ?? 0) + 1)
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        const [flow] = yield* sql<{ readonly id: string }>`
          INSERT INTO deps_flows (namespace, instance_tag) VALUES (${spec.namespace}, ${spec.instanceTag})
          RETURNING id::text AS id`
        const flowId = flow?.id ?? ""
        const executionIds = new Map<string, string>()
        for (const execution of spec.executions) {
          const upstreams = upstreamCount.get(execution.name) ?? 0
          const [row] = yield* sql<{ readonly id: string }>`
            INSERT INTO deps_executions (flow_id, name, state)
            VALUES (${flowId}, ${execution.name}, ${upstreams === 0 ? "runnable" : "blocked"})
            RETURNING id::text AS id`
          const id = row?.id ?? ""
          executionIds.set(execution.name, id)
          if (upstreams > 0) {
            const policy = execution.policy ?? Policy.allOf
            const stored = Policy.toRow(policy)
            yield* sql`
              INSERT INTO deps_edge_groups (downstream_id, policy, quorum_k, on_satisfied, total)
              VALUES (${id}, ${stored.name}, ${stored.k}, ${execution.onSatisfied ?? Policy.defaultOnSatisfied(policy)}, ${upstreams})`
          }
        }
        for (const edge of spec.edges) {
          yield* sql`
            INSERT INTO deps_edges (upstream_id, downstream_id)
            VALUES (${executionIds.get(edge.upstream) ?? ""}, ${executionIds.get(edge.downstream) ?? ""})`
        }
        return { flowId, executionIds }
      })
    )
  })
