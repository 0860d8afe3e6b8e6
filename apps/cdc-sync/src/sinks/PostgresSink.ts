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
 * index and batch (from 256 documents, `COPY`ed into a temporary table first, in one transaction), so an older write never overwrites a newer one and a replay of the same
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
 * **Generations** (reindex): `beginGeneration` creates an empty `NAME__next` table of the same
 * shape (its indexes `NAME__next_pkey`, `NAME__next_search`); while it exists `write` upserts into
 * both tables. `swapGeneration` is one transaction: drop `NAME`, rename `NAME__next` and its
 * indexes to the serving names, record the seeded marker. A reader of `NAME` waits on the lock for
 * that moment and then reads the new table; it never sees `NAME` missing or empty. The grants on
 * `NAME` move to the new table; a view over `NAME` makes the swap fail (the old generation keeps
 * serving): query the table itself. A live write
 * racing the swap into `NAME__next` fails (the table is gone) and the pipeline retries the batch
 * into the new `NAME`. `ensureIndexes` drops a `NAME__next` that no reindex of this process owns
 * (a crash left it half-built); should that hit a reindex running in another process (a one-shot
 * `converge-cdc backfill` beside the daemon), that reindex fails and its live writes go on into
 * the serving table alone.
 *
 * **Backfills** (`openBackfill`) load a new table `NAME__seed` without indexes, a page per `COPY`
 * (a page the server refuses for its data is retried row by row, as above), then build its primary
 * key and GIN index once over the whole load, far cheaper than row by row. `complete` swaps it in
 * as `swapGeneration` does, after carrying over the serving rows written after the snapshot (live
 * writes of another process meanwhile, the newer LSN winning): what the snapshot did not rewrite
 * is gone, as a sweep would leave it, and readers see the old content until that moment. A load
 * closed before `complete` drops its table; one a crash left behind is dropped by `ensureIndexes`.
 *
 * The schema also holds `_converge_seeded` (index → snapshot LSN of its completed backfill) and
 * `_converge_dead_letters` (rejected documents with their reason, under `on_error: dead_letter`).
 */
import { PgCopy, SqlState } from "@converge/pg"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as Lsn from "../capture/Lsn.js"
import * as Sql from "../internal/sqlText.js"
import type { BackfillLoad, DocumentWrite, IndexSpec, Rejection, Sink } from "./Sink.js"
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
      // A top-level field needs no JSON path (the same vector, much cheaper to compute).
      if (!path.includes(".")) {
        return `jsonb_to_tsvector(${config}, COALESCE(document -> ${Sql.literal(path)}, '[]'), '["string", "numeric"]')`
      }
      const jsonPath = `$${path
        .split(".")
        .map((key) => `."${key}"`)
        .join("")}`
      return `jsonb_to_tsvector(${config}, COALESCE(jsonb_path_query_array(document, ${Sql.literal(jsonPath)}::jsonpath), '[]'), '["string", "numeric"]')`
    })
    .join(" || ")
}

/** The sink on the target database of the `SqlClient` in context. */
export const make = (options: Options): Effect.Effect<Sink, never, SqlClient.SqlClient | PgCopy.PgCopy> =>
  Effect.map(Effect.all([SqlClient.SqlClient, PgCopy.PgCopy]), ([sql, copy]) => {
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

    /** Indexes whose next generation this sink is building (written by `write` too). */
    const building = new Set<string>()
    /**
     * Indexes whose next generation was abandoned because the serving one was backfilled again
     * meanwhile (TRUNCATE, slot loss): its snapshot may hold roots that are gone.
     */
    const abandoned = new Set<string>()
    const abandon = (index: string) =>
      Effect.sync(() => {
        if (building.delete(index)) abandoned.add(index)
      })
    const refuseAbandoned = (index: string) =>
      abandoned.has(index)
        ? Effect.fail(
            new SinkUnavailable({
              sink: options.name,
              message: `postgres sink "${options.name}": the next generation of index "${index}" was abandoned: the index was backfilled again (TRUNCATE or slot loss) while it was built; ask for the reindex again`
            })
          )
        : Effect.void
    const nextName = (index: string) => `${index}__next`
    const seedName = (index: string) => `${index}__seed`
    /** Indexes this sink is loading a backfill into (`NAME__seed`). */
    const seeding = new Set<string>()

    // The search column's comment records what it was generated from; a change regenerates it.
    const fingerprintOf = (index: IndexSpec) =>
      JSON.stringify({ searchable: index.searchable, config: options.textSearchConfig })
    const columns = (index: IndexSpec, primaryKey: boolean) => `(
            id text ${primaryKey ? "PRIMARY KEY" : "NOT NULL"},
            document jsonb,
            source_lsn pg_lsn NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            search tsvector GENERATED ALWAYS AS (${searchExpression(index.searchable, options.textSearchConfig)}) STORED)`

    const ensureTable = (index: IndexSpec, name: string) =>
      Effect.gen(function* () {
        const table = tableOf(name)
        const expression = searchExpression(index.searchable, options.textSearchConfig)
        const fingerprint = fingerprintOf(index)
        yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${table} ${columns(index, true)}`)
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
          `CREATE INDEX IF NOT EXISTS ${Sql.identifier(`${name}_search`)} ON ${table} USING gin (search)`
        )
      })

    // Batches from this many documents are staged through `COPY` (fewer round trips below it).
    const stagedFrom = 256
    /** Upserts the rows `select` yields (id, document, source_lsn, updated_at) into `table`; a newer LSN wins. */
    const upsertInto = (table: string, select: string) =>
      `INSERT INTO ${tableOf(table)} AS stored (id, document, source_lsn, updated_at) ${select}
       ON CONFLICT (id) DO UPDATE
         SET document = EXCLUDED.document, source_lsn = EXCLUDED.source_lsn, updated_at = EXCLUDED.updated_at
         WHERE stored.source_lsn <= EXCLUDED.source_lsn`

    const writeRows = (
      table: string,
      rows: ReadonlyArray<DocumentWrite>
    ): Effect.Effect<void, SqlError.SqlError> =>
      rows.length >= stagedFrom
        ? Effect.asVoid(writeStaged(table, rows))
        : Effect.asVoid(
            sql.unsafe(
              upsertInto(
                table,
                `SELECT w.id, w.document::jsonb, w.lsn::pg_lsn, now()
                 FROM unnest($1::text[], $2::text[], $3::text[]) AS w(id, document, lsn)`
              ),
              [rows.map((row) => row.id), rows.map((row) => row.json), rows.map((row) => Lsn.format(row.lsn))]
            )
          )

    /**
     * A large batch goes through a session's temporary table: `COPY` into it, then one upsert from
     * it, in one transaction. The server parses less than it does for array parameters.
     */
    const writeStaged = (table: string, rows: ReadonlyArray<DocumentWrite>) =>
      copy.copyFrom(
        "COPY pg_temp.converge_cdc_incoming (id, document, lsn) FROM STDIN",
        rows.map((row) => PgCopy.textRow([row.id, row.json, Lsn.format(row.lsn)])).join(""),
        {
          before: [
            "CREATE TEMP TABLE IF NOT EXISTS converge_cdc_incoming (id text, document jsonb, lsn pg_lsn) ON COMMIT DELETE ROWS"
          ],
          after: [
            upsertInto(table, "SELECT w.id, w.document, w.lsn, now() FROM pg_temp.converge_cdc_incoming w")
          ]
        }
      )

    const isDataError = (error: SqlError.SqlError) => {
      const code = SqlState.sqlState(error) ?? ""
      return code.startsWith("22") || code.startsWith("23") || code.startsWith("54")
    }

    /** Writes `rows` of `index` into `table` (the serving one or the next generation). */
    const writeTable = (index: string, table: string, rows: ReadonlyArray<DocumentWrite>) =>
      rows.length < 2 * stagedFrom
        ? writeChunk(index, table, rows)
        : // Two halves on two connections at once: the ids are distinct, so they never wait on each other.
          Effect.map(
            Effect.all(
              [
                writeChunk(index, table, rows.slice(0, rows.length >> 1)),
                writeChunk(index, table, rows.slice(rows.length >> 1))
              ],
              { concurrency: 2 }
            ),
            ([first, second]) => [...first, ...second]
          )

    const writeChunk = (index: string, table: string, rows: ReadonlyArray<DocumentWrite>) =>
      writeRows(table, rows).pipe(
        Effect.as<ReadonlyArray<Rejection>>([]),
        Effect.catchIf(isDataError, () =>
          Effect.forEach(rows, (row) =>
            writeRows(table, [row]).pipe(
              Effect.as<ReadonlyArray<Rejection>>([]),
              Effect.catchIf(isDataError, (error) =>
                Effect.succeed([
                  { index, id: row.id, json: row.json, reason: SqlState.classify(error).message }
                ])
              )
            )
          ).pipe(Effect.map((rejections) => rejections.flat()))
        ),
        Effect.mapError(
          unavailable(
            table === index ? `writing index "${index}"` : `writing index "${index}" (table "${table}")`
          )
        )
      )

    const byIndex = (writes: ReadonlyArray<DocumentWrite>) => {
      const grouped = new Map<string, Array<DocumentWrite>>()
      for (const write of latestPerDocument(writes)) {
        const rows = grouped.get(write.index) ?? []
        rows.push(write)
        grouped.set(write.index, rows)
      }
      return grouped
    }

    /** Writes into the serving tables and, while one is being built, the next generation too. */
    const writeServing = (writes: ReadonlyArray<DocumentWrite>) =>
      Effect.forEach(byIndex(writes), ([index, rows]) =>
        Effect.gen(function* () {
          const rejected = yield* writeTable(index, index, rows)
          if (!building.has(index)) return rejected
          const rejectedNext = yield* writeTable(index, nextName(index), rows).pipe(
            // The next table is gone: swapped in meanwhile, or dropped by another process's start.
            // Stop dual-writing; the pipeline's retry then writes the serving table alone.
            Effect.tapError((error) =>
              SqlState.sqlState(error.cause) === "42P01"
                ? Effect.sync(() => building.delete(index))
                : Effect.void
            )
          )
          const seen = new Set(rejected.map((rejection) => rejection.id))
          return [...rejected, ...rejectedNext.filter((rejection) => !seen.has(rejection.id))]
        })
      ).pipe(Effect.map((rejected) => ({ rejected: rejected.flat() })))

    /**
     * One transaction: table `from` (a complete generation of `index`) becomes the serving table,
     * with the serving table's grants and its index and key names, and `index` is marked seeded at
     * `lsn`. `keepNewer` first carries over the serving rows written after `lsn` (live changes made
     * meanwhile by another process), the newer LSN winning as in every write.
     */
    const replaceServing = (index: string, from: string, lsn: Lsn.Lsn, keepNewer: boolean) =>
      Effect.gen(function* () {
        if (keepNewer) {
          yield* sql.unsafe(`LOCK TABLE ${tableOf(index)} IN ACCESS EXCLUSIVE MODE`)
          yield* sql.unsafe(
            upsertInto(
              from,
              `SELECT id, document, source_lsn, updated_at FROM ${tableOf(index)} WHERE source_lsn > $1::pg_lsn`
            ),
            [Lsn.format(lsn)]
          )
        }
        // Readers keep their privileges: the serving table's grants (made any time before) move over.
        const grants = yield* sql<{
          readonly grantee: string
          readonly privilege: string
          readonly grantable: boolean
        }>`
          SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END AS grantee,
                 a.privilege_type AS privilege, a.is_grantable AS grantable
          FROM pg_class c
          CROSS JOIN LATERAL aclexplode(c.relacl) a
          LEFT JOIN pg_roles r ON r.oid = a.grantee
          WHERE c.oid = to_regclass(${tableOf(index)}) AND a.grantee <> c.relowner`
        for (const grant of grants) {
          yield* sql.unsafe(
            `GRANT ${grant.privilege} ON ${tableOf(from)} TO ${grant.grantee}${grant.grantable ? " WITH GRANT OPTION" : ""}`
          )
        }
        yield* sql.unsafe(`DROP TABLE IF EXISTS ${tableOf(index)}`)
        yield* sql.unsafe(`ALTER TABLE ${tableOf(from)} RENAME TO ${Sql.identifier(index)}`)
        yield* sql.unsafe(
          `ALTER INDEX ${Sql.qualified(options.schema, `${from}_search`)} RENAME TO ${Sql.identifier(`${index}_search`)}`
        )
        yield* sql.unsafe(
          `ALTER TABLE ${tableOf(index)} RENAME CONSTRAINT ${Sql.identifier(`${from}_pkey`)} TO ${Sql.identifier(`${index}_pkey`)}`
        )
        yield* sql`INSERT INTO ${sql.literal(markers)} (index, snapshot_lsn, seeded_at)
          VALUES (${index}, ${Lsn.format(lsn)}::pg_lsn, now())
          ON CONFLICT (index) DO UPDATE SET snapshot_lsn = EXCLUDED.snapshot_lsn, seeded_at = EXCLUDED.seeded_at`
      }).pipe(sql.withTransaction)

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
          for (const index of indexes) {
            yield* ensureTable(index, index.name)
            // A next generation no reindex of this process is building was left half-built by a crash.
            if (!building.has(index.name)) {
              yield* sql.unsafe(`DROP TABLE IF EXISTS ${tableOf(nextName(index.name))}`)
            }
            // Likewise a backfill load that never completed.
            if (!seeding.has(index.name)) {
              yield* sql.unsafe(`DROP TABLE IF EXISTS ${tableOf(seedName(index.name))}`)
            }
          }
        }).pipe(Effect.mapError(unavailable("preparing the indexes"))),
      interruptedGenerations: (indexes) => {
        const names = indexes.filter((index) => !building.has(index.name)).map((index) => index.name)
        if (names.length === 0) return Effect.succeed([])
        return sql<{ readonly index: string }>`
          SELECT left(c.relname, -length('__next')) AS index
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${options.schema} AND c.relkind = 'r'
            AND c.relname = ANY(${names.map(nextName)}::text[])`.pipe(
          Effect.map((rows) => rows.map((row) => row.index)),
          Effect.mapError(unavailable("looking for interrupted reindexes"))
        )
      },
      write: writeServing,
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
        abandon(index).pipe(
          Effect.zipRight(
            sql.unsafe(
              `UPDATE ${tableOf(index)} SET document = NULL, source_lsn = $1::pg_lsn, updated_at = now()
             WHERE source_lsn < $1::pg_lsn AND document IS NOT NULL`,
              [Lsn.format(lsn)]
            )
          ),
          Effect.asVoid,
          Effect.mapError(unavailable(`sweeping index "${index}"`))
        ),
      clearSeeded: (index) =>
        abandon(index).pipe(
          Effect.zipRight(sql`DELETE FROM ${sql.literal(markers)} WHERE index = ${index}`),
          Effect.asVoid,
          Effect.mapError(unavailable("clearing the seeded marker"))
        ),
      beginGeneration: (index) =>
        Effect.gen(function* () {
          building.delete(index.name)
          abandoned.delete(index.name)
          yield* sql.unsafe(`DROP TABLE IF EXISTS ${tableOf(nextName(index.name))}`)
          yield* ensureTable(index, nextName(index.name))
          building.add(index.name)
        }).pipe(Effect.mapError(unavailable(`starting a next generation of index "${index.name}"`))),
      writeNextGeneration: (writes) =>
        Effect.forEach(byIndex(writes), ([index, rows]) =>
          Effect.zipRight(refuseAbandoned(index), writeTable(index, nextName(index), rows))
        ).pipe(Effect.map((rejected) => ({ rejected: rejected.flat() }))),
      swapGeneration: (index, lsn) =>
        replaceServing(index, nextName(index), lsn, false).pipe(
          Effect.tap(() => Effect.sync(() => building.delete(index))),
          Effect.mapError(unavailable(`swapping in the next generation of index "${index}"`)),
          (swap) => Effect.zipRight(refuseAbandoned(index), swap)
        ),
      openBackfill: (index, lsn) =>
        Effect.gen(function* () {
          const seed = seedName(index.name)
          const loading = `loading index "${index.name}"`
          // A reindex building from an older snapshot must not swap its generation in after this load.
          yield* abandon(index.name)
          let completed = false
          yield* Effect.acquireRelease(
            Effect.gen(function* () {
              yield* sql.unsafe(`DROP TABLE IF EXISTS ${tableOf(seed)}`)
              yield* sql.unsafe(`CREATE TABLE ${tableOf(seed)} ${columns(index, false)}`)
              yield* sql.unsafe(
                `COMMENT ON COLUMN ${tableOf(seed)}.search IS ${Sql.literal(fingerprintOf(index))}`
              )
              seeding.add(index.name)
            }).pipe(Effect.mapError(unavailable(loading))),
            () =>
              Effect.zipRight(
                Effect.sync(() => seeding.delete(index.name)),
                completed ? Effect.void : Effect.ignore(sql.unsafe(`DROP TABLE IF EXISTS ${tableOf(seed)}`))
              )
          )
          const insertRow = (row: DocumentWrite) =>
            sql.unsafe(
              `INSERT INTO ${tableOf(seed)} (id, document, source_lsn) VALUES ($1, $2::jsonb, $3::pg_lsn)`,
              [row.id, row.json, Lsn.format(row.lsn)]
            )
          const load: BackfillLoad = {
            write: (rows) => {
              // A backfill's pages hold distinct ids, nearly always with one LSN: formatted once.
              let lsnText = ""
              let lsnOf: Lsn.Lsn | undefined
              const data = rows
                .map((row) => {
                  if (row.lsn !== lsnOf) {
                    lsnOf = row.lsn
                    lsnText = Lsn.format(row.lsn)
                  }
                  return PgCopy.textRow([row.id, row.json, lsnText])
                })
                .join("")
              return copy.copyFrom(`COPY ${tableOf(seed)} (id, document, source_lsn) FROM STDIN`, data).pipe(
                Effect.as<ReadonlyArray<Rejection>>([]),
                // A COPY fails whole: find the rows the server refuses one by one.
                Effect.catchIf(isDataError, () =>
                  Effect.forEach(rows, (row) =>
                    insertRow(row).pipe(
                      Effect.as<ReadonlyArray<Rejection>>([]),
                      Effect.catchIf(isDataError, (error) =>
                        Effect.succeed([
                          {
                            index: index.name,
                            id: row.id,
                            json: row.json,
                            reason: SqlState.classify(error).message
                          }
                        ])
                      )
                    )
                  ).pipe(Effect.map((rejections) => rejections.flat()))
                ),
                Effect.map((rejected) => ({ rejected })),
                Effect.mapError(unavailable(loading))
              )
            },
            complete: Effect.gen(function* () {
              // Indexes are built once over the whole load, far cheaper than row by row, and side by
              // side on two connections; the unique one then becomes the primary key.
              yield* Effect.all(
                [
                  sql.unsafe(
                    `CREATE UNIQUE INDEX ${Sql.identifier(`${seed}_pkey`)} ON ${tableOf(seed)} (id)`
                  ),
                  // GIN builds in memory up to this bound, then merges runs: more memory, fewer merges.
                  Effect.zipRight(
                    sql.unsafe(`SET LOCAL maintenance_work_mem = '256MB'`),
                    sql.unsafe(
                      `CREATE INDEX ${Sql.identifier(`${seed}_search`)} ON ${tableOf(seed)} USING gin (search)`
                    )
                  ).pipe(sql.withTransaction)
                ],
                { concurrency: 2 }
              )
              yield* sql.unsafe(
                `ALTER TABLE ${tableOf(seed)} ADD CONSTRAINT ${Sql.identifier(`${seed}_pkey`)} PRIMARY KEY USING INDEX ${Sql.identifier(`${seed}_pkey`)}`
              )
              yield* replaceServing(index.name, seed, lsn, true)
              completed = true
            }).pipe(Effect.mapError(unavailable(`completing the backfill of index "${index.name}"`)))
          }
          return load
        })
    }
  })
