/**
 * The search the `cdc` demo shows: a full-text query over the postgres sink's table (its
 * generated `search` tsvector, GIN-indexed), and the one-line report printed with it.
 */
import type { CdcStatus } from "@converge/cdc-sync"
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect, Either } from "effect"

/** One hit of a search. */
export interface Hit {
  readonly id: string
  readonly title: string
  readonly author: string
  readonly reviews: number
}

/** What a search found: the number of matching documents and the best few. */
export interface SearchResult {
  readonly hits: number
  readonly top: ReadonlyArray<Hit>
}

/** Documents of `schema.table` matching `query` (web search syntax, `english`), best three by rank. */
export const search = (
  schema: string,
  table: string,
  query: string
): Effect.Effect<SearchResult, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{
      readonly hits: number
      readonly id: string
      readonly title: string | null
      readonly author: string | null
      readonly reviews: number | null
    }>`
      SELECT count(*) OVER ()::int AS hits, id, document->>'title' AS title,
             document->'author'->>'name' AS author, jsonb_array_length(document->'reviews')::int AS reviews
      FROM ${sql(schema)}.${sql(table)}, websearch_to_tsquery('english', ${query}) AS query
      WHERE document IS NOT NULL AND search @@ query
      ORDER BY ts_rank(search, query) DESC, id
      LIMIT 3`
    return {
      hits: rows[0]?.hits ?? 0,
      top: rows.map((row) => ({
        id: row.id,
        title: row.title ?? "?",
        author: row.author ?? "?",
        reviews: row.reviews ?? 0
      }))
    }
  })

const bytes = (value: number | null) =>
  value === null ? "?" : value < 1024 ? `${value} B` : `${(value / 1024).toFixed(1)} KiB`

/**
 * The report line: the search's hit count and top titles, then the sync's phase, committed
 * changes and batches, slot lag and errors, and the writer's count. A failed search (the sink
 * table not created yet) is said plainly.
 */
export const line = (
  query: string,
  result: Either.Either<SearchResult, SqlError.SqlError>,
  status: CdcStatus.CdcStatus,
  written: number
): string => {
  const found = Either.match(result, {
    onLeft: () => `search "${query}": the sink table is not ready yet`,
    onRight: ({ hits, top }) =>
      `search "${query}": ${hits} books${top.length === 0 ? "" : ` — ${top.map((hit) => `"${hit.title}" by ${hit.author} (${hit.reviews} reviews)`).join(", ")}`}`
  })
  const sync = [
    status.phase,
    `${status.changesCommitted} changes committed in ${status.batches} batches`,
    `${status.documentsWritten} documents written`,
    `lag ${bytes(status.slotLagBytes)}`,
    `${status.errors} errors`,
    `writer ${written} changes`
  ].join(" · ")
  return `${found} | ${sync}`
}
