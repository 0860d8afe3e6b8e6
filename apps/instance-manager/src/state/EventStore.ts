/**
 * The durable event queue in Postgres. Every event carries tenant, group, instance, time, cause,
 * attempt, `preventDuplicate` and the leadership term it was created under. The queue is bounded:
 * `enqueue` fails with `EventQueueFull` past `capacity` pending events (an API answers 503), and
 * `enqueueWaiting` waits for room instead (internal producers), so no event is dropped.
 *
 * Every event ends in exactly one recorded outcome: `succeeded`, `failed` (permanent error or
 * attempts used up), `discarded` (created under an older term) or `skipped` (a duplicate within
 * its window). Nothing disappears without a row saying why.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Data, Duration, Effect, Option, Schedule } from "effect"
import type { EventType } from "../EventType.js"

/** An event to add. `dueAt` defaults to `createdAt` (handle now). */
export interface NewEvent {
  readonly type: EventType
  readonly tenant: string
  readonly group: string
  readonly instanceId?: string
  readonly cause?: string
  readonly preventDuplicate?: boolean
  readonly term: number
  readonly createdAt: Date
  readonly dueAt?: Date
  /** For follow-ups: the attempt this event continues (default 0). */
  readonly attempt?: number
  /** Add nothing when the same (type, group, instance) is already pending (default false). */
  readonly coalesce?: boolean
}

/** A pending event as stored. */
export interface EventRecord {
  readonly id: string
  readonly type: EventType
  readonly tenant: string
  readonly group: string
  readonly instanceId: string
  readonly cause: string
  readonly attempt: number
  readonly preventDuplicate: boolean
  readonly term: number
  readonly createdAt: Date
  readonly dueAt: Date
}

/** How an event ended. */
export type EventStatus = "pending" | "succeeded" | "failed" | "discarded" | "skipped"

/** The queue holds `capacity` pending events: the producer must wait, or answer 503. */
export class EventQueueFull extends Data.TaggedError("EventQueueFull")<{
  readonly capacity: number
  readonly message: string
}> {}

const columns = `id::text AS id, type, tenant, group_key AS "group", instance_id AS "instanceId", cause, attempt,
  prevent_duplicate AS "preventDuplicate", term, created_at AS "createdAt", due_at AS "dueAt"`

/** Pending events, all groups. */
export const pendingCount: Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{
      readonly pending: number
    }>`SELECT count(*)::int AS pending FROM im_events WHERE status = 'pending'`.pipe(
      Effect.map((rows) => rows[0]?.pending ?? 0)
    )
)

/**
 * Adds an event unless `capacity` events are pending already (`EventQueueFull`); returns its id,
 * or `None` when `coalesce` found the same event pending.
 */
export const enqueue = (
  event: NewEvent,
  capacity: number
): Effect.Effect<Option.Option<string>, EventQueueFull | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    if (event.coalesce === true) {
      const pending = yield* sql`
        SELECT 1 FROM im_events WHERE status = 'pending' AND type = ${event.type} AND tenant = ${event.tenant}
          AND group_key = ${event.group} AND instance_id = ${event.instanceId ?? ""}`
      if (pending.length > 0) return Option.none()
    }
    const rows = yield* sql<{ readonly id: string }>`
      INSERT INTO im_events (type, tenant, group_key, instance_id, created_at, cause, attempt, prevent_duplicate, term, due_at)
      SELECT ${event.type}, ${event.tenant}, ${event.group}, ${event.instanceId ?? ""}, ${event.createdAt},
             ${event.cause ?? ""}, ${event.attempt ?? 0}, ${event.preventDuplicate ?? false}, ${event.term},
             ${event.dueAt ?? event.createdAt}
      WHERE (SELECT count(*) FROM im_events WHERE status = 'pending') < ${capacity}
      RETURNING id::text AS id`
    const [row] = rows
    if (row === undefined) {
      return yield* new EventQueueFull({
        capacity,
        message: `The event queue is full (${capacity} pending events): retry shortly, or raise eventQueueCapacity`
      })
    }
    return Option.some(row.id)
  })

/**
 * Adds an event, waiting while the queue is full (checking every `poll`, on Effect's clock).
 * For the manager's own producers, which must never drop an event.
 */
export const enqueueWaiting = (
  event: NewEvent,
  capacity: number,
  poll: Duration.DurationInput = Duration.millis(200)
): Effect.Effect<Option.Option<string>, SqlError.SqlError, SqlClient.SqlClient> =>
  enqueue(event, capacity).pipe(
    Effect.retry({ while: (error) => error._tag === "EventQueueFull", schedule: Schedule.spaced(poll) }),
    Effect.catchTag("EventQueueFull", (full) => Effect.die(full))
  )

/** The group's pending events due at `now`, oldest first. */
export const due = (
  tenant: string,
  group: string,
  now: Date
): Effect.Effect<ReadonlyArray<EventRecord>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<EventRecord>`
      SELECT ${sql.literal(columns)} FROM im_events
      WHERE status = 'pending' AND tenant = ${tenant} AND group_key = ${group} AND due_at <= ${now}
      ORDER BY id`
  )

/** When the group's next pending event is due, if it has one. */
export const nextDue = (
  tenant: string,
  group: string
): Effect.Effect<Option.Option<Date>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly dueAt: Date | null }>`
      SELECT min(due_at) AS "dueAt" FROM im_events
      WHERE status = 'pending' AND tenant = ${tenant} AND group_key = ${group}`.pipe(
      Effect.map((rows) => Option.fromNullable(rows[0]?.dueAt ?? null))
    )
  )

/** Groups with pending events, for a resync after leadership is acquired. */
export const groupsWithPending: Effect.Effect<
  ReadonlyArray<{ readonly tenant: string; readonly group: string }>,
  SqlError.SqlError,
  SqlClient.SqlClient
> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql<{ readonly tenant: string; readonly group: string }>`
    SELECT DISTINCT tenant, group_key AS "group" FROM im_events WHERE status = 'pending' ORDER BY 1, 2`
)

/**
 * Whether `preventDuplicate` suppresses `event`: the same (type, group, instance) succeeded at or
 * after `since`. Retries (attempt > 0) are never suppressed.
 */
export const isDuplicate = (
  event: EventRecord,
  since: Date
): Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> =>
  !event.preventDuplicate || event.attempt > 0
    ? Effect.succeed(false)
    : Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql`
          SELECT 1 FROM im_event_successes
          WHERE type = ${event.type} AND tenant = ${event.tenant} AND group_key = ${event.group}
            AND instance_id = ${event.instanceId} AND succeeded_at >= ${since}`.pipe(
          Effect.map((rows) => rows.length > 0)
        )
      )

const finish = (id: string, status: EventStatus, now: Date, error: string | null) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`UPDATE im_events SET status = ${status}, finished_at = ${now}, last_error = ${error}
                 WHERE id = ${id}::bigint AND status = 'pending'`
  )

/** The event was handled; its success is recorded for `preventDuplicate`, in the same transaction. */
export const succeed = (
  event: EventRecord,
  now: Date
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.zipRight(
        finish(event.id, "succeeded", now, null),
        sql`
          INSERT INTO im_event_successes (type, tenant, group_key, instance_id, succeeded_at)
          VALUES (${event.type}, ${event.tenant}, ${event.group}, ${event.instanceId}, ${now})
          ON CONFLICT (type, tenant, group_key, instance_id) DO UPDATE SET succeeded_at = excluded.succeeded_at`
      )
    )
  ).pipe(Effect.asVoid)

/** The event failed for good (a permanent error, or its attempts are used up). */
export const fail = (
  event: EventRecord,
  now: Date,
  error: string
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.asVoid(finish(event.id, "failed", now, error))

/** The event came from an older leadership term: recorded as discarded, never handled. */
export const discard = (
  event: EventRecord,
  now: Date,
  reason: string
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.asVoid(finish(event.id, "discarded", now, reason))

/** The event duplicated a recent success: recorded as skipped. */
export const skip = (
  event: EventRecord,
  now: Date
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.asVoid(finish(event.id, "skipped", now, null))

/** The event failed and will be tried again at `dueAt` as attempt `attempt`. */
export const retryLater = (
  event: EventRecord,
  attempt: number,
  dueAt: Date,
  error: string
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`UPDATE im_events SET attempt = ${attempt}, due_at = ${dueAt}, last_error = ${error}
                 WHERE id = ${event.id}::bigint AND status = 'pending'`
  ).pipe(Effect.asVoid)

/** How many events ended in each status (for status and tests). */
export const countByStatus: Effect.Effect<
  Readonly<Record<EventStatus, number>>,
  SqlError.SqlError,
  SqlClient.SqlClient
> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly status: EventStatus; readonly count: number }>`
    SELECT status, count(*)::int AS count FROM im_events GROUP BY status`.pipe(
    Effect.map((rows) => {
      const counts: Record<EventStatus, number> = {
        pending: 0,
        succeeded: 0,
        failed: 0,
        discarded: 0,
        skipped: 0
      }
      for (const row of rows) counts[row.status] = row.count
      return counts
    })
  )
)
