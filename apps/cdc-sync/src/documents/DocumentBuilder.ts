/**
 * Builds the documents of one index for a set of root ids with one query (see `DocumentQuery`).
 * An id whose root row is gone (or soft-deleted) comes back in `gone`: its document must be
 * deleted from the sinks.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import type { IndexPlan } from "../schema/IndexPlan.js"
import * as DocumentQuery from "./DocumentQuery.js"

/** A built document: its id (the root's primary key as text) and its JSON text. */
export interface Document {
  readonly id: string
  readonly json: string
}

/** The outcome of building a set of ids: the documents that exist and the ids that no longer do. */
export interface Built {
  readonly documents: ReadonlyArray<Document>
  readonly gone: ReadonlyArray<string>
}

/** Builds the documents of one index. */
export interface DocumentBuilder {
  readonly plan: IndexPlan
  /** The query text (`$1`: a text array of ids), for running it on a connection of one's own. */
  readonly query: string
  /** Builds `ids` (duplicates are built once) in one query. */
  readonly build: (ids: Iterable<string>) => Effect.Effect<Built, SqlError.SqlError>
}

/** A builder for `plan` on the source database. */
export const make = (plan: IndexPlan): Effect.Effect<DocumentBuilder, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => {
    const query = DocumentQuery.documentsByIds(plan)
    return {
      plan,
      query,
      build: (ids) => {
        const wanted = [...new Set(ids)]
        if (wanted.length === 0) return Effect.succeed({ documents: [], gone: [] })
        return sql.unsafe<DocumentRow>(query, [wanted]).pipe(Effect.map((rows) => fromRows(wanted, rows)))
      }
    }
  })

/** A row of the builder's query. */
export interface DocumentRow {
  readonly id: string
  readonly document: string
}

/** The outcome for `wanted` ids given the query's rows. */
export const fromRows = (wanted: ReadonlyArray<string>, rows: ReadonlyArray<DocumentRow>): Built => {
  const found = new Set(rows.map((row) => row.id))
  return {
    documents: rows.map((row) => ({ id: row.id, json: row.document })),
    gone: wanted.filter((id) => !found.has(id))
  }
}
