/**
 * The `postgres` sink: index `NAME` is table `NAME` in the target schema, a real search sink.
 *
 * ```sql
 * CREATE TABLE "<schema>"."<NAME>" (
 *   id          text PRIMARY KEY,
 *   document    jsonb,                 -- NULL: a tombstone (the document was deleted)
 *   source_lsn  pg_lsn NOT NULL,       -- the source position the row reflects
 *   updated_at  timestamptz NOT NULL,
 *   search      tsvector GENERATED ALWAYS AS (<searchable fields>) STORED  -- with a GIN index
 * )
 * ```
 *
 * Writes are one `INSERT … ON CONFLICT DO UPDATE … WHERE stored.source_lsn <= new.source_lsn` per
 * index and batch, so an older write never overwrites a newer one and a replay of the same
 * position rewrites the same row. Deletes keep a **tombstone** (NULL document, with its LSN) in
 * the same row rather than removing it: a late upsert from before the delete (a redelivery, a
 * backfill racing live changes) finds the newer tombstone and is ignored, where a removed row
 * would let it resurrect the document. One row per id also means one row lock decides every
 * race. Readers select `WHERE document IS NOT NULL`. Tombstones older than the slot's confirmed
 * position can never be raced again and may be pruned.
 *
 * Each statement commits on its own, so `flush` has nothing left to do. A batch the server
 * rejects for its data (SQLSTATE classes 22, 23, 54: e.g. a tsvector over 1 MB) is retried row by
 * row and only the offending documents are reported rejected; any other failure is
 * `SinkUnavailable`.
 *
 * The schema also holds `_converge_seeded` (index → snapshot LSN of its completed backfill) and
 * `_converge_dead_letters` (rejected documents with their reason, under `on_error: dead_letter`).
 */
import { SqlState } from "@converge/pg"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as Lsn from "../capture/Lsn.js"
import * as Sql from "../internal/sqlText.js"
import type { DocumentWrite, IndexSpec, Rejection, Sink } from "./Sink.js"
import { latestPerDocument, SinkUnavailable } from "./Sink.js"

/** Where and how the sink writes. */
export interface Options {
  /** The sink's name in the configuration. */
  readonly name: string
  /** The target schema (created if missing). */
  readonly schema: string
  /** The text search configuration of the `search` column, e.g. `simple` or `english`. */
  readonly textSearchConfig: string
}

/**
 * The generated `search` expression over `searchable` dot paths (arrays on the way are
 * flattened); with no searchable field, every string in the document.
 */
export const searchExpression = (searchable: ReadonlyArray<string>, textSearchConfig: string): string => {
  const config = `${Sql.literal(textSearchConfig)}::regconfig`
  if (searchable.length === 0) return `jsonb_to_tsvector(${config}, COALESCE(document, '{}'), '["string"]')`
  return searchable
    .map((path) => {
      const jsonPath = `$${path
        .split(".")
        .map((key) => `."${key}"`)
        .join("")}`
      return `jsonb_to_tsvector(${config}, COALESCE(jsonb_path_query_array(document, ${Sql.literal(jsonPath)}::jsonpath), '[]'), '["string", "numeric"]')`
    })
    .join(" || ")
}

/** The sink on the target database of the `SqlClient` in context. */
export const make = (options: Options): Effect.Effect<Sink, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => {
    const schema = Sql.identifier(options.schema)
    const tableOf = (index: string) => Sql.qualified(options.schema, index)
    const markers = Sql.qualified(options.schema, "_converge_seeded")
    const deadLetters = Sql.qualified(options.schema, "_converge_dead_letters")
    const unavailable = (what: string) => (cause: SqlError.SqlError) =>
      new SinkUnavailable({
        sink: options.name,
        message: `postgres sink "${options.name}": ${what} failed: ${SqlState.classify(cause).message}`,
        cause
      })

    const ensureIndex = (index: IndexSpec) =>
      Effect.gen(function* () {
        const table = tableOf(index.name)
        const expression = searchExpression(index.searchable, options.textSearchConfig)
        // The search column's comment records what it was generated from; a change regenerates it.
        const fingerprint = JSON.stringify({ searchable: index.searchable, config: options.textSearchConfig })
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${table} (
            id text PRIMARY KEY,
            document jsonb,
            source_lsn pg_lsn NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            search tsvector GENERATED ALWAYS AS (${expression}) STORED)`)
        const [current] = yield* sql<{ readonly comment: string | null }>`
          SELECT col_description(a.attrelid, a.attnum) AS comment
          FROM pg_attribute a
          WHERE a.attrelid = ${table}::regclass AND a.attname = 'search' AND NOT a.attisdropped`
        if (current?.comment !== fingerprint) {
          yield* sql.unsafe(`ALTER TABLE ${table} DROP COLUMN IF EXISTS search`)
          yield* sql.unsafe(
            `ALTER TABLE ${table} ADD COLUMN search tsvector GENERATED ALWAYS AS (${expression}) STORED`
          )
          yield* sql.unsafe(`COMMENT ON COLUMN ${table}.search IS ${Sql.literal(fingerprint)}`)
        }
        yield* sql.unsafe(
          `CREATE INDEX IF NOT EXISTS ${Sql.identifier(`${index.name}_search`)} ON ${table} USING gin (search)`
        )
      })

    const upsertStatement = (index: string) =>
      `INSERT INTO ${tableOf(index)} AS stored (id, document, source_lsn, updated_at)
       SELECT w.id, w.document::jsonb, w.lsn::pg_lsn, now()
       FROM unnest($1::text[], $2::text[], $3::text[]) AS w(id, document, lsn)
       ON CONFLICT (id) DO UPDATE
         SET document = EXCLUDED.document, source_lsn = EXCLUDED.source_lsn, updated_at = EXCLUDED.updated_at
         WHERE stored.source_lsn <= EXCLUDED.source_lsn`

    const writeRows = (index: string, rows: ReadonlyArray<DocumentWrite>) =>
      sql.unsafe(upsertStatement(index), [
        rows.map((row) => row.id),
        rows.map((row) => row.json),
        rows.map((row) => Lsn.format(row.lsn))
      ])

    const isDataError = (error: SqlError.SqlError) => {
      const code = SqlState.sqlState(error) ?? ""
      return code.startsWith("22") || code.startsWith("23") || code.startsWith("54")
    }

    const writeIndex = (index: string, rows: ReadonlyArray<DocumentWrite>) =>
      writeRows(index, rows).pipe(
        Effect.as<ReadonlyArray<Rejection>>([]),
        Effect.catchIf(isDataError, () =>
          Effect.forEach(rows, (row) =>
            writeRows(index, [row]).pipe(
              Effect.as<ReadonlyArray<Rejection>>([]),
              Effect.catchIf(isDataError, (error) =>
                Effect.succeed([
                  { index, id: row.id, json: row.json, reason: SqlState.classify(error).message }
                ])
              )
            )
          ).pipe(Effect.map((rejections) => rejections.flat()))
        ),
        Effect.mapError(unavailable(`writing index "${index}"`))
      )

    return {
      name: options.name,
      ensureIndexes: (indexes) =>
        Effect.gen(function* () {
          yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
          yield* sql.unsafe(
            `CREATE TABLE IF NOT EXISTS ${markers} (index text PRIMARY KEY, snapshot_lsn pg_lsn NOT NULL, seeded_at timestamptz NOT NULL)`
          )
          yield* sql.unsafe(
            `CREATE TABLE IF NOT EXISTS ${deadLetters} (id bigserial PRIMARY KEY, index text NOT NULL,
               document_id text NOT NULL, document text, reason text NOT NULL, source_lsn pg_lsn NOT NULL,
               stored_at timestamptz NOT NULL DEFAULT now())`
          )
          yield* Effect.forEach(indexes, ensureIndex, { discard: true })
        }).pipe(Effect.mapError(unavailable("preparing the indexes"))),
      write: (writes) => {
        const byIndex = new Map<string, Array<DocumentWrite>>()
        for (const write of latestPerDocument(writes)) {
          const rows = byIndex.get(write.index) ?? []
          rows.push(write)
          byIndex.set(write.index, rows)
        }
        return Effect.forEach(byIndex, ([index, rows]) => writeIndex(index, rows)).pipe(
          Effect.map((rejected) => ({ rejected: rejected.flat() }))
        )
      },
      storeDeadLetters: (rejections, lsn) =>
        rejections.length === 0
          ? Effect.void
          : sql
              .unsafe(
                `INSERT INTO ${deadLetters} (index, document_id, document, reason, source_lsn)
                 SELECT r.index, r.id, r.document, r.reason, $5::pg_lsn
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(index, id, document, reason)`,
                [
                  rejections.map((r) => r.index),
                  rejections.map((r) => r.id),
                  rejections.map((r) => r.json),
                  rejections.map((r) => r.reason),
                  Lsn.format(lsn)
                ]
              )
              .pipe(Effect.asVoid, Effect.mapError(unavailable("storing dead letters"))),
      flush: Effect.void,
      isSeeded: (index) =>
        sql<{
          readonly index: string
        }>`SELECT index FROM ${sql.literal(markers)} WHERE index = ${index}`.pipe(
          Effect.map((rows) => rows.length > 0),
          Effect.mapError(unavailable("reading the seeded markers"))
        ),
      markSeeded: (index, lsn) =>
        sql`INSERT INTO ${sql.literal(markers)} (index, snapshot_lsn, seeded_at)
            VALUES (${index}, ${Lsn.format(lsn)}::pg_lsn, now())
            ON CONFLICT (index) DO UPDATE SET snapshot_lsn = EXCLUDED.snapshot_lsn, seeded_at = EXCLUDED.seeded_at`.pipe(
          Effect.asVoid,
          Effect.mapError(unavailable("marking the index seeded"))
        ),
      sweep: (index, lsn) =>
        sql
          .unsafe(
            `UPDATE ${tableOf(index)} SET document = NULL, source_lsn = $1::pg_lsn, updated_at = now()
             WHERE source_lsn < $1::pg_lsn AND document IS NOT NULL`,
            [Lsn.format(lsn)]
          )
          .pipe(Effect.asVoid, Effect.mapError(unavailable(`sweeping index "${index}"`))),
      clearSeeded: (index) =>
        sql`DELETE FROM ${sql.literal(markers)} WHERE index = ${index}`.pipe(
          Effect.asVoid,
          Effect.mapError(unavailable("clearing the seeded marker"))
        )
    }
  })
