/**
 * Checks that the source server can feed the sync, reading only: `wal_level = logical`, a role
 * allowed to replicate, an existing slot (if any) on pgoutput in this database, and a publication
 * that covers every table the indexes read and publishes every operation — or that the role may
 * create or extend it when `manage_publication` is on. Each failure is a `Problem` with the SQL
 * that fixes it.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type * as CdcConfig from "../config/CdcConfig.js"
import * as Problem from "../config/Problem.js"
import * as Sql from "../internal/sqlText.js"
import type { TableInfo } from "../schema/Catalog.js"

/** What the checks found about the publication, for the step that ensures it. */
export interface PublicationState {
  readonly exists: boolean
  /** Tables the indexes read that the publication does not cover yet. */
  readonly missing: ReadonlyArray<TableInfo>
}

/** The result of the checks. */
export interface SourceReport {
  readonly problems: ReadonlyArray<Problem.Problem>
  readonly publication: PublicationState
}

/** Runs every check for `source` and the `tables` the indexes read. */
export const check = (
  source: CdcConfig.Source,
  tables: ReadonlyArray<TableInfo>
): Effect.Effect<SourceReport, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const problems: Array<Problem.Problem> = []
    const add = (at: string, problem: string, fix: string) => problems.push(Problem.make(at, problem, fix))

    const [server] = yield* sql<{
      readonly walLevel: string
      readonly role: string
      readonly superuser: boolean
      readonly replication: boolean
      readonly mayCreate: boolean
      readonly database: string
    }>`SELECT current_setting('wal_level') AS "walLevel", current_user AS role,
              r.rolsuper AS superuser, r.rolreplication AS replication,
              has_database_privilege(current_database(), 'CREATE') AS "mayCreate",
              current_database() AS database
       FROM pg_roles r WHERE r.rolname = current_user`
    if (server === undefined) return yield* Effect.dieMessage("current_user has no pg_roles row")

    if (server.walLevel !== "logical") {
      add(
        "source",
        `the server runs with wal_level = ${server.walLevel}; logical replication needs wal_level = logical`,
        "ALTER SYSTEM SET wal_level = logical; then restart Postgres (on a managed service, turn on logical replication in its parameters)"
      )
    }
    if (!server.superuser && !server.replication) {
      add(
        "source",
        `role "${server.role}" may not use replication`,
        `ALTER ROLE ${Sql.identifier(server.role)} REPLICATION; (as a superuser), or connect as a role that has it`
      )
    }

    const [slot] = yield* sql<{ readonly plugin: string | null; readonly database: string | null }>`
      SELECT plugin, database FROM pg_replication_slots WHERE slot_name = ${source.slot}`
    if (slot !== undefined) {
      if (slot.plugin !== "pgoutput") {
        add(
          "source.slot",
          `replication slot "${source.slot}" exists with plugin ${slot.plugin ?? "(physical)"}; this sync reads pgoutput`,
          `choose another \`source.slot\`, or drop it if nothing uses it: SELECT pg_drop_replication_slot(${Sql.literal(source.slot)});`
        )
      } else if (slot.database !== server.database) {
        add(
          "source.slot",
          `replication slot "${source.slot}" belongs to database "${slot.database}", not "${server.database}"`,
          "choose another `source.slot` for this database"
        )
      }
    }

    const [publication] = yield* sql<{
      readonly allTables: boolean
      readonly operations: boolean
      readonly owned: boolean
    }>`SELECT puballtables AS "allTables", (pubinsert AND pubupdate AND pubdelete AND pubtruncate) AS operations,
              pg_has_role(pubowner, 'USAGE') AS owned
       FROM pg_publication WHERE pubname = ${source.publication}`
    const covered = new Set(
      publication === undefined
        ? []
        : (yield* sql<{ readonly name: string }>`
            SELECT schemaname || '.' || tablename AS name FROM pg_publication_tables WHERE pubname = ${source.publication}`).map(
            (row) => row.name
          )
    )
    const missing = tables.filter((table) => !covered.has(table.display))
    const tableList = (list: ReadonlyArray<TableInfo>) => list.map((table) => table.qualified).join(", ")
    const ownsAll = (list: ReadonlyArray<TableInfo>) => list.every((table) => table.ownedByCurrentRole)

    if (publication === undefined) {
      const mayCreate = server.superuser || (server.mayCreate && ownsAll(tables))
      if (!source.managePublication || !mayCreate) {
        add(
          "source.publication",
          `publication "${source.publication}" does not exist${
            source.managePublication
              ? `, and role "${server.role}" may not create it (it must own every table)`
              : ""
          }`,
          `as an owner of the tables or a superuser: CREATE PUBLICATION ${Sql.identifier(source.publication)} FOR TABLE ${tableList(tables)};`
        )
      }
    } else {
      if (!publication.operations) {
        add(
          "source.publication",
          `publication "${source.publication}" does not publish every operation (insert, update, delete, truncate)`,
          `ALTER PUBLICATION ${Sql.identifier(source.publication)} SET (publish = 'insert, update, delete, truncate');`
        )
      }
      const mayExtend = server.superuser || (publication.owned && ownsAll(missing))
      if (missing.length > 0 && (!source.managePublication || !mayExtend)) {
        add(
          "source.publication",
          `publication "${source.publication}" lacks ${missing.map((t) => `"${t.display}"`).join(", ")}${
            source.managePublication
              ? `, and role "${server.role}" may not add them (it must own the publication and the tables)`
              : " (manage_publication is off)"
          }`,
          `as an owner or a superuser: ALTER PUBLICATION ${Sql.identifier(source.publication)} ADD TABLE ${tableList(missing)};`
        )
      }
    }
    return { problems, publication: { exists: publication !== undefined, missing } }
  })
