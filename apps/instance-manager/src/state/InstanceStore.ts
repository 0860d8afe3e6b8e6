/**
 * Instances in Postgres. The reconciler's writes are fenced by its leadership term (`Fence`);
 * facts reported from outside (health reports, drain acks, termination notices, a provider id
 * that now exists) are recorded whatever the term, since they are true whoever leads.
 *
 * `reserve` is the surge guard: in one fenced transaction it locks the group row, counts the
 * group's live instances and inserts a `pending` row only while the count is below the cap, so no
 * two reconciles, and no deposed leader, can ever take a group past `desired + maxSurge`.
 */
import * as Crypto from "node:crypto"
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Option } from "effect"
import { Fence, type FenceError } from "./Fence.js"

/** An instance's lifecycle: `pending` → `running` → `draining` → `deleting` → `deleted`. */
export type InstanceState = "pending" | "running" | "draining" | "deleting" | "deleted"

/** An instance as stored. Times are `Date`s from the manager's clock. */
export interface InstanceRecord {
  readonly id: string
  readonly tenant: string
  readonly groupKey: string
  /** `null` while the create is in flight. */
  readonly providerId: string | null
  readonly state: InstanceState
  readonly templateHash: string
  readonly createdAt: Date
  readonly createdTerm: number
  readonly lastHealthAt: Date | null
  readonly disconnectedAt: Date | null
  readonly unhealthyAt: Date | null
  readonly unhealthyReason: string | null
  readonly terminationNoticeAt: Date | null
  readonly drainStartedAt: Date | null
  readonly drainReason: string | null
  readonly drainAckedAt: Date | null
  readonly deleteAt: Date | null
  readonly replacementId: string | null
  readonly deletedAt: Date | null
}

/** The columns a reconciler may change, by column name (a type alias, so `sql.update` takes it). */
export type InstancePatch = {
  readonly state?: InstanceState
  readonly provider_id?: string
  readonly unhealthy_at?: Date | null
  readonly unhealthy_reason?: string | null
  readonly drain_started_at?: Date
  readonly drain_reason?: string
  readonly delete_at?: Date
  readonly replacement_id?: string | null
  readonly deleted_at?: Date
  readonly disconnected_at?: Date | null
}

const columns = `id, tenant, group_key AS "groupKey", provider_id AS "providerId", state,
  template_hash AS "templateHash", created_at AS "createdAt", created_term AS "createdTerm",
  last_health_at AS "lastHealthAt", disconnected_at AS "disconnectedAt", unhealthy_at AS "unhealthyAt",
  unhealthy_reason AS "unhealthyReason", termination_notice_at AS "terminationNoticeAt",
  drain_started_at AS "drainStartedAt", drain_reason AS "drainReason", drain_acked_at AS "drainAckedAt",
  delete_at AS "deleteAt", replacement_id AS "replacementId", deleted_at AS "deletedAt"`

/** What `reserve` needs to know. */
export interface Reservation {
  readonly tenant: string
  readonly group: string
  readonly templateHash: string
  /** The most live instances the group may have: `desired + maxSurge`. */
  readonly cap: number
  readonly term: number
  readonly now: Date
}

/**
 * Reserves a slot for a new instance: `Some(id)` of a new `pending` row, or `None` when the group
 * already has `cap` live (not deleted) instances. Fenced by `term`.
 */
export const reserve = (
  reservation: Reservation
): Effect.Effect<Option.Option<string>, FenceError, SqlClient.SqlClient | Fence> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const fence = yield* Fence
    return yield* fence.fenced(
      reservation.term,
      Effect.gen(function* () {
        yield* sql`SELECT 1 FROM im_groups WHERE tenant = ${reservation.tenant} AND key = ${reservation.group} FOR UPDATE`
        const [count] = yield* sql<{ readonly live: number }>`
          SELECT count(*)::int AS live FROM im_instances
          WHERE tenant = ${reservation.tenant} AND group_key = ${reservation.group} AND state <> 'deleted'`
        if ((count?.live ?? 0) >= reservation.cap) return Option.none()
        const id = `${reservation.group}-${Crypto.randomUUID().slice(0, 8)}`
        yield* sql`
          INSERT INTO im_instances (id, tenant, group_key, state, template_hash, created_at, created_term)
          VALUES (${id}, ${reservation.tenant}, ${reservation.group}, 'pending', ${reservation.templateHash},
                  ${reservation.now}, ${reservation.term})`
        return Option.some(id)
      })
    )
  })

/** Records a provider's instance under a manager id it did not create (rebuild after leadership changes). */
export const adopt = (
  instance: {
    readonly id: string
    readonly tenant: string
    readonly group: string
    readonly providerId: string
    readonly templateHash: string
    readonly state: "pending" | "running"
    readonly createdAt: Date
  },
  term: number
): Effect.Effect<void, FenceError, SqlClient.SqlClient | Fence> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const fence = yield* Fence
    yield* fence.fenced(
      term,
      sql`
        INSERT INTO im_instances (id, tenant, group_key, provider_id, state, template_hash, created_at, created_term)
        VALUES (${instance.id}, ${instance.tenant}, ${instance.group}, ${instance.providerId}, ${instance.state},
                ${instance.templateHash}, ${instance.createdAt}, ${term})
        ON CONFLICT (id) DO UPDATE SET provider_id = excluded.provider_id
        WHERE im_instances.provider_id IS NULL`
    )
  })

/** Applies `patch` to instance `id`, fenced by `term`. */
export const update = (
  term: number,
  id: string,
  patch: InstancePatch
): Effect.Effect<void, FenceError, SqlClient.SqlClient | Fence> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const fence = yield* Fence
    yield* fence.fenced(term, sql`UPDATE im_instances SET ${sql.update(patch)} WHERE id = ${id}`)
  })

/**
 * Records the provider id of a created instance, unfenced: the instance exists in the cloud, so
 * it must be known whoever leads now.
 */
export const attachProvider = (
  id: string,
  providerId: string
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE im_instances SET provider_id = ${providerId} WHERE id = ${id}`.pipe(Effect.asVoid)
  )

/** The group's instances that are not deleted, oldest first. */
export const listLive = (
  tenant: string,
  group: string
): Effect.Effect<ReadonlyArray<InstanceRecord>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<InstanceRecord>`
      SELECT ${sql.literal(columns)} FROM im_instances
      WHERE tenant = ${tenant} AND group_key = ${group} AND state <> 'deleted'
      ORDER BY created_at, id`
  )

/** Every instance, deleted ones included, newest first (for listings). */
export const listAll = (
  limit: number
): Effect.Effect<ReadonlyArray<InstanceRecord>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<InstanceRecord>`SELECT ${sql.literal(columns)} FROM im_instances ORDER BY created_at DESC, id LIMIT ${limit}`
  )

/** One instance. */
export const get = (
  id: string
): Effect.Effect<Option.Option<InstanceRecord>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<InstanceRecord>`SELECT ${sql.literal(columns)} FROM im_instances WHERE id = ${id}`.pipe(
      Effect.map((rows) => Option.fromNullable(rows[0]))
    )
  )

const recordFact = (
  statement: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<unknown>, SqlError.SqlError>
) => Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.map(statement(sql), (rows) => rows.length > 0))

/** An agent's heartbeat: the instance is up and reporting. Returns whether the instance is known and live. */
export const recordHealth = (
  id: string,
  now: Date
): Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> =>
  recordFact(
    (sql) => sql`
      UPDATE im_instances SET last_health_at = ${now}, disconnected_at = NULL,
        state = CASE WHEN state = 'pending' AND provider_id IS NOT NULL THEN 'running' ELSE state END
      WHERE id = ${id} AND state <> 'deleted' RETURNING id`
  )

/** The agent's connection dropped; follow-up checks run until it reports again. */
export const recordDisconnect = (
  id: string,
  now: Date
): Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> =>
  recordFact(
    (sql) => sql`UPDATE im_instances SET disconnected_at = ${now}
                 WHERE id = ${id} AND state <> 'deleted' RETURNING id`
  )

/** The operator acknowledged a drain. Idempotent: the first ack's time is kept. Returns whether the instance drains. */
export const recordDrainAck = (
  id: string,
  now: Date
): Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> =>
  recordFact(
    (sql) => sql`UPDATE im_instances SET drain_acked_at = coalesce(drain_acked_at, ${now})
                 WHERE id = ${id} AND state = 'draining' RETURNING id`
  )

/** The provider will take the instance away soon. Idempotent: the first notice's time is kept. */
export const recordTerminationNotice = (
  id: string,
  now: Date
): Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> =>
  recordFact(
    (sql) => sql`UPDATE im_instances SET termination_notice_at = coalesce(termination_notice_at, ${now})
                 WHERE id = ${id} AND state <> 'deleted' RETURNING id`
  )

/** The manager id of the instance a provider knows as `providerId`. */
export const idOfProvider = (
  providerId: string
): Effect.Effect<Option.Option<InstanceRecord>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<InstanceRecord>`SELECT ${sql.literal(columns)} FROM im_instances WHERE provider_id = ${providerId}`.pipe(
      Effect.map((rows) => Option.fromNullable(rows[0]))
    )
  )

/** Replacements started in the group at or after `since` for one of `reasons` (draining or done). */
export const countReplacementsSince = (
  tenant: string,
  group: string,
  since: Date,
  reasons: ReadonlyArray<string>
): Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly count: number }>`
      SELECT count(*)::int AS count FROM im_instances
      WHERE tenant = ${tenant} AND group_key = ${group} AND drain_started_at >= ${since}
        AND drain_reason IN ${sql.in(reasons)}`.pipe(Effect.map((rows) => rows[0]?.count ?? 0))
  )

/** Gives back a reservation whose create failed (unfenced: the row is this manager's own and nothing was created). */
export const releaseReservation = (
  id: string,
  now: Date
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE im_instances SET state = 'deleted', deleted_at = ${now}
        WHERE id = ${id} AND provider_id IS NULL`.pipe(Effect.asVoid)
  )
