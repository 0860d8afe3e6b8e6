/**
 * Makes the publication cover every table the indexes read, before any slot or snapshot: creates
 * it (`FOR TABLE …`, every operation) or adds the missing tables. Validation already established
 * that the role may; this only runs when `manage_publication` is on.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as Sql from "../internal/sqlText.js"
import type { TableInfo } from "../schema/Catalog.js"
import type { PublicationState } from "./SourceChecks.js"

/** What `ensure` did. */
export interface Ensured {
  readonly created: boolean
  readonly added: ReadonlyArray<string>
}

/** Creates or extends `publication` so it covers `tables` (`state` as validation found it). */
export const ensure = (
  publication: string,
  tables: ReadonlyArray<TableInfo>,
  state: PublicationState
): Effect.Effect<Ensured, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const list = (of: ReadonlyArray<TableInfo>) => of.map((table) => table.qualified).join(", ")
    if (!state.exists) {
      yield* sql.unsafe(
        `CREATE PUBLICATION ${Sql.identifier(publication)} FOR TABLE ${list(tables)} WITH (publish = 'insert, update, delete, truncate')`
      )
      return { created: true, added: tables.map((table) => table.display) }
    }
    if (state.missing.length > 0) {
      yield* sql.unsafe(`ALTER PUBLICATION ${Sql.identifier(publication)} ADD TABLE ${list(state.missing)}`)
    }
    return { created: false, added: state.missing.map((table) => table.display) }
  })
