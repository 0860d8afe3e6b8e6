/**
 * What the source database says about a table: its columns and their types, its primary key, its
 * replica identity (which columns the WAL carries in a row's old image) and whether the current
 * role owns it. Read from `pg_catalog`, never written.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import * as Sql from "../internal/sqlText.js"

/** A column and its SQL type as `format_type` spells it (usable in a cast). */
export interface Column {
  readonly name: string
  readonly type: string
}

/** A table of the source database. */
export interface TableInfo {
  readonly schema: string
  readonly name: string
  /** `schema.name` as people write it. */
  readonly display: string
  /** `"schema"."name"`, quoted for SQL. */
  readonly qualified: string
  /** `r` table or `p` partitioned table (others cannot be published). */
  readonly kind: string
  readonly columns: ReadonlyArray<Column>
  readonly primaryKey: ReadonlyArray<string>
  /** `d` default (primary key), `f` full, `i` an index, `n` nothing. */
  readonly replicaIdentity: "d" | "f" | "i" | "n"
  /** Columns present in the old row image of updates and deletes (every column when `f`). */
  readonly identityColumns: ReadonlyArray<string>
  /** The current role is the owner (or a member of the owning role): it may add the table to a publication. */
  readonly ownedByCurrentRole: boolean
}

/** Splits `schema.table` (default schema `public`). */
export const splitName = (tableName: string): { readonly schema: string; readonly name: string } => {
  const dot = tableName.indexOf(".")
  return dot === -1
    ? { schema: "public", name: tableName }
    : { schema: tableName.slice(0, dot), name: tableName.slice(dot + 1) }
}

/** The column called `name`, if the table has it. */
export const column = (table: TableInfo, name: string): Option.Option<Column> =>
  Option.fromNullable(table.columns.find((c) => c.name === name))

/** Reads `tableName` (`table` or `schema.table`); `None` when no such table exists. */
export const readTable = (
  tableName: string
): Effect.Effect<Option.Option<TableInfo>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { schema, name } = splitName(tableName)
    const [found] = yield* sql<{
      readonly oid: number
      readonly kind: string
      readonly replicaIdentity: "d" | "f" | "i" | "n"
      readonly owned: boolean
    }>`SELECT c.oid::int AS oid, c.relkind::text AS kind, c.relreplident::text AS "replicaIdentity",
              pg_has_role(c.relowner, 'USAGE') AS owned
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = ${schema} AND c.relname = ${name}`
    if (found === undefined) return Option.none()
    const columns = yield* sql<Column>`
      SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
      FROM pg_attribute a
      WHERE a.attrelid = ${found.oid} AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`
    const indexColumns = (condition: "indisprimary" | "indisreplident") =>
      sql<{ readonly name: string }>`
        SELECT a.attname AS name
        FROM pg_index i
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = ${found.oid} AND ${sql.literal(`i.${condition}`)}
        ORDER BY k.position`.pipe(Effect.map((rows) => rows.map((row) => row.name)))
    const primaryKey = yield* indexColumns("indisprimary")
    const identityColumns =
      found.replicaIdentity === "f"
        ? columns.map((c) => c.name)
        : found.replicaIdentity === "d"
          ? primaryKey
          : found.replicaIdentity === "i"
            ? yield* indexColumns("indisreplident")
            : []
    return Option.some({
      schema,
      name,
      display: `${schema}.${name}`,
      qualified: Sql.qualified(schema, name),
      kind: found.kind,
      columns,
      primaryKey,
      replicaIdentity: found.replicaIdentity,
      identityColumns,
      ownedByCurrentRole: found.owned
    })
  })
