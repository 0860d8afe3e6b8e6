/**
 * Groups in Postgres: the desired state the reconciler reads. A group's settings are its encoded
 * config (`spec`); `desiredSize` may be changed at run time (`groups set`, `PUT /v1/groups/:key`);
 * a deleted group keeps its row, with `deletedAt` set, until its instances are gone.
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Option, Schema } from "effect"
import { GroupConfig } from "../config/GroupConfig.js"
import * as TemplateHash from "../reconciler/TemplateHash.js"

/** A group as stored. */
export interface GroupRecord {
  readonly tenant: string
  readonly key: string
  readonly desiredSize: number
  readonly spec: GroupConfig
  readonly templateHash: string
  readonly deletedAt: Date | null
}

interface GroupRow {
  readonly tenant: string
  readonly key: string
  readonly desired_size: number
  readonly spec: unknown
  readonly template_hash: string
  readonly deleted_at: Date | null
}

const decodeSpec = Schema.decodeUnknownSync(GroupConfig)
const encodeSpec = Schema.encodeSync(GroupConfig)

const toRecord = (row: GroupRow): GroupRecord => ({
  tenant: row.tenant,
  key: row.key,
  desiredSize: row.desired_size,
  spec: decodeSpec(row.spec),
  templateHash: row.template_hash,
  deletedAt: row.deleted_at
})

/**
 * Creates or updates a group from its config (`desiredSize` included) and un-deletes it.
 * Returns whether anything changed, so callers can enqueue `GroupChanged` only then.
 */
export const upsert = (
  group: GroupConfig,
  now: Date
): Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const spec = encodeSpec(group)
    const templateHash = TemplateHash.of(group.template)
    const rows = yield* sql<{ readonly key: string }>`
      INSERT INTO im_groups (tenant, key, desired_size, spec, template_hash, deleted_at, updated_at)
      VALUES (${group.tenant}, ${group.key}, ${group.desiredSize}, ${JSON.stringify(spec)}::jsonb, ${templateHash}, NULL, ${now})
      ON CONFLICT (tenant, key) DO UPDATE SET
        desired_size = excluded.desired_size, spec = excluded.spec, template_hash = excluded.template_hash,
        deleted_at = NULL, updated_at = excluded.updated_at
      WHERE im_groups.desired_size <> excluded.desired_size OR im_groups.spec <> excluded.spec
         OR im_groups.deleted_at IS NOT NULL
      RETURNING key`
    return rows.length > 0
  })

/** Sets a group's desired size; `None` when there is no such (live) group. */
export const setDesired = (
  tenant: string,
  key: string,
  desiredSize: number,
  now: Date
): Effect.Effect<Option.Option<GroupRecord>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<GroupRow>`
      UPDATE im_groups SET desired_size = ${desiredSize}, updated_at = ${now}
      WHERE tenant = ${tenant} AND key = ${key} AND deleted_at IS NULL
      RETURNING *`.pipe(Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRecord)))
  )

/** Marks a group deleted: it scales to zero. Returns whether it was live. */
export const markDeleted = (
  tenant: string,
  key: string,
  now: Date
): Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`UPDATE im_groups SET deleted_at = ${now}, updated_at = ${now}
        WHERE tenant = ${tenant} AND key = ${key} AND deleted_at IS NULL RETURNING key`.pipe(
      Effect.map((rows) => rows.length > 0)
    )
  )

/** One group, deleted or not. */
export const get = (
  tenant: string,
  key: string
): Effect.Effect<Option.Option<GroupRecord>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<GroupRow>`SELECT * FROM im_groups WHERE tenant = ${tenant} AND key = ${key}`.pipe(
      Effect.map((rows) => Option.map(Option.fromNullable(rows[0]), toRecord))
    )
  )

/** Every group, deleted ones included (they still have instances to remove), by tenant and key. */
export const list: Effect.Effect<
  ReadonlyArray<GroupRecord>,
  SqlError.SqlError,
  SqlClient.SqlClient
> = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<GroupRow>`SELECT * FROM im_groups ORDER BY tenant, key`.pipe(Effect.map((rows) => rows.map(toRecord)))
)
