/**
 * Dispatching one completion event: its outcome is applied to each downstream's edge group,
 * one short transaction per edge, exactly once per edge; the event is marked dispatched only
 * after every edge applied.
 */
import { ContentionRetry } from "@converge/pg"
import { SqlClient, type SqlError } from "@effect/sql"
import { Data, Effect, Metric, Ref } from "effect"
import { type EventLabels, insertEvent } from "./Completion.js"
import * as DepsMetrics from "./DepsMetrics.js"
import type { Outcome } from "./Model.js"
import * as Policy from "./Policy.js"

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
  | { readonly _tag: "Dispatched"; readonly hops: ReadonlyArray<HopResult> }

/** Options for `dispatch`; every field has a default. */
export interface Options {
  /** Retry of each hop's transaction on contention. Default `ContentionRetry.defaultPolicy`. */
  readonly contentionRetry?: ContentionRetry.Options | undefined
}

interface EventRow {
  readonly id: string
  readonly execution_id: string
  readonly outcome: Outcome
  readonly namespace: string
  readonly instance_tag: string
  readonly dispatched: boolean
  readonly attempts: number
}

interface GroupRow {
  readonly policy: string
  readonly quorum_k: number | null
  readonly on_satisfied: Policy.OnSatisfied
  readonly total: number
  readonly succeeded: number
  readonly not_succeeded: number
  readonly decision: Policy.Decision
}

/**
 * Applies one edge of `event` in its own transaction. Isolation: READ COMMITTED with
 * `SELECT … FOR UPDATE` on the group row. Every writer of a group (one per incoming edge,
 * and every dispatcher replaying the same event) first locks that single row, so the
 * read-modify-write of counters and decision is serialized without SERIALIZABLE's predicate
 * tracking and its false-positive aborts on hot fan-in groups; the applied marker on the
 * edge is read under that same lock, so a replay or a racing dispatcher sees it set and does
 * nothing. Nothing the hop decides spans rows beyond the ones it locks.
 */
const applyEdge = (
  event: EventRow,
  downstreamId: string
): Effect.Effect<HopResult, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [group] = yield* sql<GroupRow>`
      SELECT policy, quorum_k, on_satisfied, total, succeeded, not_succeeded, decision
      FROM deps_edge_groups WHERE downstream_id = ${downstreamId} FOR UPDATE`
    const marked = yield* sql`
      UPDATE deps_edges SET applied_event_id = ${event.id}, applied_at = clock_timestamp()
      WHERE upstream_id = ${event.execution_id} AND downstream_id = ${downstreamId} AND applied_event_id IS NULL
      RETURNING 1 AS marked`
    if (group === undefined || marked.length === 0) {
      const policy = group?.policy ?? ""
      return {
        downstreamId,
        policy,
        applied: false,
        decided: undefined,
        eventsWritten: [],
        eligibleAfterMs: undefined
      }
    }
    const success = event.outcome === "succeeded"
    const counters: Policy.Counters = {
      total: group.total,
      succeeded: group.succeeded + (success ? 1 : 0),
      notSucceeded: group.not_succeeded + (success ? 0 : 1)
    }
    const decision =
      group.decision === "pending"
        ? Policy.evaluate(Policy.fromRow(group.policy, group.quorum_k), counters)
        : group.decision
    const decided = group.decision === "pending" && decision !== "pending" ? decision : undefined
    yield* sql`
      UPDATE deps_edge_groups
      SET succeeded = ${counters.succeeded}, not_succeeded = ${counters.notSucceeded}, decision = ${decision},
          decided_at = CASE WHEN ${decided !== undefined} THEN clock_timestamp() ELSE decided_at END
      WHERE downstream_id = ${downstreamId}`
    if (decided === undefined) {
      return {
        downstreamId,
        policy: group.policy,
        applied: true,
        decided,
        eventsWritten: [],
        eligibleAfterMs: undefined
      }
    }
    const labels: EventLabels = { namespace: event.namespace, instanceTag: event.instance_tag }
    const eventsWritten: Array<string> = []
    let eligibleAfterMs: number | undefined
    if (decided === "satisfied") {
      const [eligible] = yield* sql<{ readonly after_ms: number }>`
        UPDATE deps_executions SET state = 'runnable' WHERE id = ${downstreamId} AND state = 'blocked'
        RETURNING (extract(epoch FROM clock_timestamp() - (
          SELECT committed_at FROM deps_completion_events WHERE id = ${event.id}
        )) * 1000)::float8 AS after_ms`
      eligibleAfterMs = eligible?.after_ms
    } else {
      const skipped = yield* sql`
        UPDATE deps_executions SET state = 'skipped', finished_at = clock_timestamp(),
          cancel_reason = ${`dependencies can no longer be satisfied (${group.policy})`}
        WHERE id = ${downstreamId} AND state = 'blocked' RETURNING 1 AS skipped`
      if (skipped.length > 0) eventsWritten.push(yield* insertEvent(downstreamId, "skipped", labels))
    }
    if (group.on_satisfied === "cancel_remaining") {
      const reason = `group of execution ${downstreamId} decided ${decided} (${group.policy}); remaining upstreams cancelled`
      // Siblings are locked in id order so that hops cancelling overlapping sets do not deadlock.
      const cancelled = yield* sql<{ readonly id: string }>`
        UPDATE deps_executions SET state = 'cancelled', finished_at = clock_timestamp(), cancel_reason = ${reason}
        WHERE id IN (
          SELECT e.id FROM deps_executions e JOIN deps_edges d ON e.id = d.upstream_id
          WHERE d.downstream_id = ${downstreamId} AND e.state IN ('blocked', 'runnable', 'running')
          ORDER BY e.id FOR UPDATE OF e
        )
        RETURNING id::text AS id`
      // RETURNING has no order: write the siblings' events in execution id order.
      const byId = [...cancelled].sort((left, right) => Number(BigInt(left.id) - BigInt(right.id)))
      for (const sibling of byId) eventsWritten.push(yield* insertEvent(sibling.id, "cancelled", labels))
    }
    return { downstreamId, policy: group.policy, applied: true, decided, eventsWritten, eligibleAfterMs }
  })

// Runs the hop under contention retry and counts the extra runs in `contention_retries_total`.
const applyEdgeWithRetry = (event: EventRow, downstreamId: string, options: Options) =>
  Effect.gen(function* () {
    const runs = yield* Ref.make(0)
    return yield* ContentionRetry.withContentionRetry(
      Effect.zipRight(
        Ref.update(runs, (count) => count + 1),
        applyEdge(event, downstreamId)
      ),
      options.contentionRetry
    ).pipe(
      Effect.ensuring(
        Effect.flatMap(Ref.get(runs), (count) =>
          count > 1 ? Metric.incrementBy(DepsMetrics.contentionRetriesTotal, count - 1) : Effect.void
        )
      )
    )
  })

/**
 * Dispatches completion event `eventId`: a no-op if already dispatched; otherwise applies each
 * outgoing edge in its own transaction (retried on contention), then marks the event
 * dispatched. If any hop fails, the event's attempts and last error are recorded, it stays
 * pending, and a later dispatch completes it (applied edges are not counted again).
 */
export const dispatch = (
  eventId: string,
  options: Options = {}
): Effect.Effect<DispatchResult, EventNotFound | DispatchFailed | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [event] = yield* sql<EventRow>`
      SELECT id::text AS id, execution_id::text AS execution_id, outcome, namespace, instance_tag,
             dispatched_at IS NOT NULL AS dispatched, attempts
      FROM deps_completion_events WHERE id = ${eventId}`
    if (event === undefined) {
      return yield* new EventNotFound({ eventId, message: `No completion event ${eventId}` })
    }
    if (event.dispatched) return { _tag: "AlreadyDispatched" } as const
    if (event.attempts > 0) yield* Metric.increment(DepsMetrics.dispatchRetriesTotal)
    const edges = yield* sql<{ readonly downstream_id: string }>`
      SELECT downstream_id::text AS downstream_id FROM deps_edges
      WHERE upstream_id = ${event.execution_id} ORDER BY deps_edges.downstream_id`
    const hops = yield* Effect.forEach(edges, (edge) =>
      applyEdgeWithRetry(event, edge.downstream_id, options).pipe(
        // Recorded once the hop committed, so a decision is counted once however often it is retried.
        Effect.tap((hop) =>
          hop.decided === undefined
            ? Effect.void
            : DepsMetrics.recordDecision(hop.policy, hop.decided, hop.eligibleAfterMs)
        )
      )
    ).pipe(
      Effect.tapError(
        (error) =>
          sql`
          UPDATE deps_completion_events SET attempts = attempts + 1, last_error = ${errorMessage(error)}
          WHERE id = ${eventId} AND dispatched_at IS NULL`
      ),
      Effect.mapError(
        (cause) =>
          new DispatchFailed({
            eventId,
            message: `Dispatching event ${eventId} failed: ${errorMessage(cause)}`,
            cause
          })
      )
    )
    yield* sql`
      UPDATE deps_completion_events SET dispatched_at = clock_timestamp(), attempts = attempts + 1
      WHERE id = ${eventId} AND dispatched_at IS NULL`
    return { _tag: "Dispatched", hops } as const
  })

// SqlError's own message is generic: the server's message is on its cause.
const errorMessage = (error: unknown): string => {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ""
  return `${error.name}: ${error.message}${cause}`
}
