/**
 * Dispatching one completion event: its outcome is applied to each downstream's edge group,
 * one short transaction per edge, exactly once per edge; the event is marked dispatched only
 * after every edge applied.
 *
 * ```text
 *   deps_lease_event (1 statement: event + edges, lease, or finish when no edge is left)
 *     └▶ deps_apply_hop per edge not yet applied (1 statement = 1 transaction each, side by side)
 *          └▶ the last hop also marks the event dispatched and checks the flow's end
 * ```
 */
import { ContentionRetry } from "@converge/pg"
import { SqlClient, type SqlError } from "@effect/sql"
import { Data, Effect, Metric, Ref } from "effect"
import * as DepsMetrics from "./DepsMetrics.js"
import type * as GroupLocks from "./GroupLocks.js"

/** No completion event has this id. */
export class EventNotFound extends Data.TaggedError("EventNotFound")<{
  readonly eventId: string
  readonly message: string
}> {}

/** Applying an edge failed; the event stays pending with its attempts and last error recorded. */
export class DispatchFailed extends Data.TaggedError("DispatchFailed")<{
  readonly eventId: string
  readonly message: string
  readonly cause: unknown
}> {}

/** What applying one edge did. */
export interface HopResult {
  readonly downstreamId: string
  /** The stored name of the group's policy (`all_of`, `any_of`, `quorum`, `all_done`); empty if the group is missing. */
  readonly policy: string
  /** False when the edge had already been applied (a replay or a racing dispatcher). */
  readonly applied: boolean
  /** The decision this hop made, if it made the group's one-shot decision. */
  readonly decided: "satisfied" | "impossible" | undefined
  /** Completion events this hop wrote (the downstream's `skipped`, sibling cancellations). */
  readonly eventsWritten: ReadonlyArray<string>
  /** When this hop made the downstream runnable: milliseconds from the event's commit to then (database clock). */
  readonly eligibleAfterMs: number | undefined
}

/** What dispatching an event did. */
export type DispatchResult =
  | { readonly _tag: "AlreadyDispatched" }
  /** Another dispatcher holds the event's lease (it is dispatching it now); nothing was done. */
  | { readonly _tag: "Leased" }
  | { readonly _tag: "Dispatched"; readonly hops: ReadonlyArray<HopResult> }

/** Options for `dispatch`; every field has a default. */
export interface Options {
  /** Retry of each hop's transaction on contention. Default `ContentionRetry.defaultPolicy`. */
  readonly contentionRetry?: ContentionRetry.Options | undefined
  /**
   * How long a dispatcher holds an event's lease, in ms (database clock). Other dispatchers skip a
   * leased event; an expired lease (a dead or slow dispatcher) lets the next one take it. The lease
   * only avoids duplicate work: exactly once per edge does not depend on it. Default 2000.
   */
  readonly leaseMs?: number | undefined
  /** Most hops of one event running at once (each its own transaction). Default 8. */
  readonly hopConcurrency?: number | undefined
  /** Per-group locks shared by this process's dispatches: at most one hop per group at a time. */
  readonly groupLocks?: GroupLocks.GroupLocks | undefined
}

/** The default `hopConcurrency`. */
export const defaultHopConcurrency = 8

/** The default `leaseMs`. */
export const defaultLeaseMs = 2000

/** One outgoing edge of an event as the claim reads it. */
export interface EdgeRow {
  readonly downstream: string
  readonly applied: boolean
  readonly policy: string
}

interface LeasedEventRow extends Omit<ClaimedEvent, "status"> {
  readonly status: "dispatched" | "busy" | ClaimedEvent["status"]
}

interface HopRow {
  readonly applied: boolean
  readonly policy: string
  readonly decided: "satisfied" | "impossible" | null
  readonly events_written: ReadonlyArray<string> | null
  readonly eligible_after_ms: number | null
}

/**
 * Applies one edge of the event in one statement, `deps_apply_hop` (migration 0003), hence in its
 * own transaction. Isolation: READ COMMITTED with `SELECT … FOR UPDATE` on the group row. Every
 * writer of a group (one per incoming edge, and every dispatcher replaying the same event) first
 * locks that single row, so the read-modify-write of counters and decision is serialized without
 * SERIALIZABLE's predicate tracking and its false-positive aborts on hot fan-in groups; the
 * applied marker on the edge is set under that same lock, so a replay or a racing dispatcher
 * finds it set and does nothing. The policy is evaluated by `deps_policy_evaluate`, the SQL twin
 * of `Policy.evaluate` (checked against it by test/PolicySql.test.ts). With `finish` (the
 * event's last hop) the same transaction marks the event dispatched and checks the flow's end.
 */
const applyEdge = (
  eventId: string,
  upstreamId: string,
  downstreamId: string,
  finish: boolean
): Effect.Effect<HopResult, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<HopRow>`
      SELECT applied, policy, decided, events_written::text[] AS events_written, eligible_after_ms
      FROM deps_apply_hop(${eventId}, ${upstreamId}, ${downstreamId}, ${finish})`
    return {
      downstreamId,
      policy: row?.policy ?? "",
      applied: row?.applied ?? false,
      decided: row?.decided ?? undefined,
      eventsWritten: row?.events_written ?? [],
      eligibleAfterMs: row?.eligible_after_ms ?? undefined
    }
  })

// Runs the hop under contention retry and counts the extra runs in `contention_retries_total`.
const applyEdgeWithRetry = (
  eventId: string,
  upstreamId: string,
  downstreamId: string,
  finish: boolean,
  options: Options
) =>
  Effect.gen(function* () {
    const runs = yield* Ref.make(0)
    const attempt = Effect.zipRight(
      Ref.update(runs, (count) => count + 1),
      applyEdge(eventId, upstreamId, downstreamId, finish)
    )
    return yield* ContentionRetry.withContentionRetry(
      options.groupLocks === undefined ? attempt : options.groupLocks.withLock(downstreamId, attempt),
      options.contentionRetry
    ).pipe(
      Effect.ensuring(
        Effect.flatMap(Ref.get(runs), (count) =>
          count > 1 ? Metric.incrementBy(DepsMetrics.contentionRetriesTotal, count - 1) : Effect.void
        )
      )
    )
  })

// Reads the event and its edges and takes the event's lease, or marks it dispatched when no
// edge is left to apply, in one statement (`deps_lease_event`, migration 0003).
const leaseEvent = (eventId: string, leaseMs: number) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<LeasedEventRow>`
      SELECT status, id::text AS id, execution_id::text AS execution_id, attempts, edges
      FROM deps_lease_event(${eventId}, ${leaseMs})`
  )

const parseEdges = (edges: LeasedEventRow["edges"]): ReadonlyArray<EdgeRow> =>
  typeof edges === "string" ? (JSON.parse(edges) as ReadonlyArray<EdgeRow>) : edges

const releaseLease = (eventId: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql`UPDATE deps_completion_events SET lease_until = NULL WHERE id = ${eventId} AND dispatched_at IS NULL`
  ).pipe(Effect.ignore)

/**
 * Dispatches completion event `eventId`: a no-op if already dispatched, or if another dispatcher
 * holds its lease (`Leased`); otherwise takes the lease and applies each outgoing edge not yet
 * applied, each in its own one-statement transaction (retried on contention; up to
 * `hopConcurrency` side by side, the last one, which also marks the event dispatched, after the
 * others). An event without edges left to apply is marked dispatched by the leasing statement.
 * If any hop fails, the event's attempts and last error are recorded, its lease is released, it
 * stays pending, and a later dispatch completes it (applied edges are not counted again).
 */
export const dispatch = (
  eventId: string,
  options: Options = {}
): Effect.Effect<DispatchResult, EventNotFound | DispatchFailed | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const [event] = yield* leaseEvent(eventId, options.leaseMs ?? defaultLeaseMs)
    if (event === undefined) {
      return yield* new EventNotFound({ eventId, message: `No completion event ${eventId}` })
    }
    if (event.status === "dispatched") return { _tag: "AlreadyDispatched" } as const
    if (event.status === "busy") return { _tag: "Leased" } as const
    if (event.attempts > 0) yield* Metric.increment(DepsMetrics.dispatchRetriesTotal)
    return yield* dispatchClaimed({ ...event, status: event.status }, options)
  })

/** An event taken by `claimBatch`: already finished (no edge left), or leased to the caller. */
export interface ClaimedEvent {
  readonly status: "finished" | "leased"
  readonly id: string
  readonly execution_id: string
  readonly attempts: number
  readonly edges: ReadonlyArray<EdgeRow> | string
}

/**
 * The push path's batch claim (`deps_claim_events`, migration 0003): leases up to `limit`
 * pending events that no dispatcher holds and that never failed (oldest first, `SKIP LOCKED`, so
 * replicas take disjoint events), marking those with no edge left to apply dispatched at once.
 * Finish each `leased` one with `dispatchClaimed`.
 */
export const claimBatch = (
  limit: number,
  options: Options = {}
): Effect.Effect<ReadonlyArray<ClaimedEvent>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<ClaimedEvent>`
      SELECT status, id::text AS id, execution_id::text AS execution_id, attempts, edges
      FROM deps_claim_events(${limit}, ${options.leaseMs ?? defaultLeaseMs})`
  )

/**
 * Applies the edges of an event the caller holds the lease of (from `claimBatch` or the leasing
 * statement of `dispatch`), as `dispatch` describes; a `finished` event only reports its edges.
 */
export const dispatchClaimed = (
  event: ClaimedEvent,
  options: Options = {}
): Effect.Effect<DispatchResult, DispatchFailed, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const eventId = event.id
    const edges = parseEdges(event.edges)
    const skipped = (edge: EdgeRow): HopResult => ({
      downstreamId: edge.downstream,
      policy: edge.policy,
      applied: false,
      decided: undefined,
      eventsWritten: [],
      eligibleAfterMs: undefined
    })
    if (event.status === "finished") return { _tag: "Dispatched", hops: edges.map(skipped) } as const
    const toApply = edges.filter((edge) => !edge.applied)
    const last = toApply[toApply.length - 1]
    const hop = (edge: EdgeRow) =>
      applyEdgeWithRetry(event.id, event.execution_id, edge.downstream, edge === last, options).pipe(
        // Recorded once the hop committed, so a decision is counted once however often it is retried.
        Effect.tap((result) =>
          result.decided === undefined
            ? Effect.void
            : DepsMetrics.recordDecision(result.policy, result.decided, result.eligibleAfterMs)
        )
      )
    // Every hop but the last runs side by side (each on its own group); the last one, which marks
    // the event dispatched, runs once they all committed.
    const hops = yield* Effect.forEach(toApply.slice(0, -1), hop, {
      concurrency: options.hopConcurrency ?? defaultHopConcurrency
    }).pipe(
      Effect.flatMap((earlier) =>
        last === undefined ? Effect.succeed(earlier) : Effect.map(hop(last), (final) => [...earlier, final])
      ),
      Effect.map((applied) => {
        const byDownstream = new Map(applied.map((result) => [result.downstreamId, result]))
        return edges.map((edge) => byDownstream.get(edge.downstream) ?? skipped(edge))
      }),
      Effect.tapError(
        (error) =>
          sql`
          UPDATE deps_completion_events
          SET attempts = attempts + 1, last_error = ${errorMessage(error)}, lease_until = NULL
          WHERE id = ${eventId} AND dispatched_at IS NULL`
      ),
      Effect.mapError(
        (cause) =>
          new DispatchFailed({
            eventId,
            message: `Dispatching event ${eventId} failed: ${errorMessage(cause)}`,
            cause
          })
      ),
      Effect.onInterrupt(() => releaseLease(eventId))
    )
    return { _tag: "Dispatched", hops } as const
  })

// SqlError's own message is generic: the server's message is on its cause.
const errorMessage = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ""
  return `${error.name}: ${error.message}${cause}`
}
