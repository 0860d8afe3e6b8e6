/**
 * The initial load of one index: every root row of a `REPEATABLE READ` snapshot, read in primary
 * key order a page at a time, built into documents with the index's one query (inside the same
 * snapshot), written to every sink's backfill load (`Sink.openBackfill`), and only then completed:
 * what the snapshot did not rewrite is gone, everything is durable, the index is marked seeded. A
 * crash before that redoes the backfill; the writes are idempotent.
 *
 * ```text
 *   slot exists (changes after its confirmed LSN are kept)
 *     └─ BEGIN REPEATABLE READ ── count ── page of ids ─▶ build ─▶ write every load ─▶ …
 *          ─▶ complete every load (postgres: index and swap in; others: sweep, flush, mark seeded)
 * ```
 *
 * Documents are tagged with the slot's confirmed LSN read just before the snapshot: every change
 * the slot streams afterwards has a later LSN, so live writes always win over backfill writes,
 * and a change committed during the backfill is both (possibly) in the snapshot and streamed —
 * never in neither.
 *
 * A reindex runs the same loop into the sinks' next generation (`into: "nextGeneration"`) and
 * ends with `swapGeneration` instead of sweep and mark.
 *
 * The snapshot lives on a reserved connection of its own, so that sink writes (which may go to
 * the same server) never run inside it.
 */
import type { Observer } from "@converge/core"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Clock, Data, Effect, Option, Stream } from "effect"
import * as Lsn from "../capture/Lsn.js"
import * as DocumentBuilder from "../documents/DocumentBuilder.js"
import * as Sql from "../internal/sqlText.js"
import { CdcEvent } from "../observe/CdcEvent.js"
import type { DocumentWrite, Rejection, SinkUnavailable } from "../sinks/Sink.js"
import * as Sink from "../sinks/Sink.js"

/** A sink rejected documents of an index whose `on_error` is `stop`. */
export class DocumentsRejected extends Data.TaggedError("DocumentsRejected")<{
  readonly index: string
  readonly rejected: ReadonlyArray<Rejection>
}> {
  override get message(): string {
    const [first] = this.rejected
    return `index "${this.index}": ${this.rejected.length} document(s) rejected (on_error: stop), first ${first?.id}: ${first?.reason}; fix the data or set on_error: skip | dead_letter`
  }
}

/** How a backfill runs. */
export interface Options {
  /** Root rows per page (one build query and one sink write each). Default 10 000. */
  readonly pageSize?: number | undefined
  /** Pages written at once (each sink gets them concurrently). Default 2. */
  readonly writeConcurrency?: number | undefined
  /**
   * Where documents go: `serving` (default) writes the serving generation, sweeps what the
   * snapshot did not rewrite and marks the index seeded; `nextGeneration` (reindex) writes the
   * next generation started by `beginGeneration` and swaps it in once flushed.
   */
  readonly into?: "serving" | "nextGeneration" | undefined
}

/** Backfills one index into `sinks`, tagging documents with `lsn`; returns how many documents were written. */
export const run = (
  builder: DocumentBuilder.DocumentBuilder,
  sinks: ReadonlyArray<Sink.Sink>,
  lsn: Lsn.Lsn,
  observer: Observer.Observer<CdcEvent>,
  options: Options = {}
): Effect.Effect<number, SqlError.SqlError | SinkUnavailable | DocumentsRejected, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const plan = builder.plan
    const index = plan.name
    const pageSize = options.pageSize ?? 10_000
    const writeConcurrency = options.writeConcurrency ?? 2
    const intoNext = options.into === "nextGeneration"
    const key = Sql.identifier(plan.primaryKey.name)
    const root = plan.root.table.qualified
    // `p.` everywhere: a bare ORDER BY name would sort by the text output column (`10` < `9`) and skip rows.
    const pageQuery = `SELECT p.${key}::text AS id FROM ${root} p
      WHERE $1::text IS NULL OR p.${key} > $1::text::${plan.primaryKey.type}
      ORDER BY p.${key} LIMIT ${pageSize}`

    // Where each sink takes the pages: its next generation, or a load of the serving one.
    const openLoads = intoNext
      ? Effect.succeed(
          sinks.map((sink) => ({ sink, write: sink.writeNextGeneration, complete: Effect.void }))
        )
      : Effect.forEach(sinks, (sink) =>
          Effect.map(Sink.openBackfill(sink, { name: index, searchable: plan.searchable }, lsn), (load) => ({
            sink,
            ...load
          }))
        )
    const readAndWrite = (loads: ReadonlyArray<{ readonly sink: Sink.Sink } & Sink.BackfillLoad>) =>
      Effect.scoped(
        Effect.gen(function* () {
          // A connection of its own holds the snapshot, so the sinks' writes never join it.
          const connection = yield* sql.reserve
          const run = <A extends object>(text: string, params: ReadonlyArray<unknown> = []) =>
            connection.execute(text, params, undefined) as Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
          yield* Effect.acquireRelease(run("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"), () =>
            Effect.ignore(run("ROLLBACK"))
          )
          const [counted] = yield* run<{ readonly total: number }>(
            `SELECT count(*)::float8 AS total FROM ${root}`
          )
          const total = counted?.total ?? 0
          yield* observer.notify(CdcEvent.BackfillStarted({ index, total }))
          const started = yield* Clock.currentTimeMillis
          let done = 0
          let documents = 0
          // The page after `after`, built; undefined past the last one.
          const readPage = (after: string | null) =>
            Effect.gen(function* () {
              const page = yield* run<{ readonly id: string }>(pageQuery, [after])
              if (page.length === 0) return undefined
              const ids = page.map((row) => row.id)
              const rows = yield* run<DocumentBuilder.DocumentRow>(builder.query, [ids])
              return { ids, built: DocumentBuilder.fromRows(ids, rows) }
            })
          /** Writes one page into every load, handling rejections per `on_error`. */
          const writePage = (page: {
            readonly ids: ReadonlyArray<string>
            readonly built: DocumentBuilder.Built
          }) =>
            Effect.gen(function* () {
              const { built } = page
              const writes: ReadonlyArray<DocumentWrite> = [
                ...built.documents.map((document) => ({ index, id: document.id, json: document.json, lsn })),
                ...built.gone.map((id) => ({ index, id, json: null, lsn }))
              ]
              for (const { sink, write } of loads) {
                const report = yield* write(writes)
                if (report.rejected.length > 0 && plan.onError === "stop") {
                  return yield* new DocumentsRejected({ index, rejected: report.rejected })
                }
                if (plan.onError === "dead_letter") yield* sink.storeDeadLetters(report.rejected, lsn)
                const policy = plan.onError === "stop" ? "skip" : plan.onError
                for (const rejection of report.rejected) {
                  yield* observer.notify(
                    CdcEvent.DocumentQuarantined({
                      index,
                      id: rejection.id,
                      sink: sink.name,
                      reason: rejection.reason,
                      policy
                    })
                  )
                }
              }
              return page
            })
          // The snapshot connection reads and builds pages ahead while the sinks take up to
          // `writeConcurrency` of them at once (pages hold distinct ids, so their order does not matter).
          yield* Stream.unfoldEffect(null as string | null | undefined, (after) =>
            after === undefined
              ? Effect.succeed(Option.none())
              : Effect.map(readPage(after), (page) =>
                  page === undefined
                    ? Option.none()
                    : Option.some([page, page.ids[page.ids.length - 1]] as const)
                )
          ).pipe(
            Stream.buffer({ capacity: 1 }),
            Stream.mapEffect(writePage, { concurrency: writeConcurrency, unordered: true }),
            Stream.runForEach((page) =>
              Effect.gen(function* () {
                documents += page.built.documents.length
                done += page.ids.length
                const elapsedSeconds = Math.max((yield* Clock.currentTimeMillis) - started, 1) / 1000
                const rowsPerSecond = done / elapsedSeconds
                yield* observer.notify(
                  CdcEvent.BackfillProgress({
                    index,
                    done,
                    total,
                    rowsPerSecond: Math.round(rowsPerSecond),
                    etaSeconds: Math.round(Math.max(total - done, 0) / Math.max(rowsPerSecond, 1))
                  })
                )
              })
            )
          )
          return documents
        })
      )
    const written = yield* Effect.scoped(
      Effect.gen(function* () {
        const loads = yield* openLoads
        const documents = yield* readAndWrite(loads)
        if (intoNext) {
          // A next generation starts empty: nothing to sweep. Flushed, it replaces the serving one.
          for (const sink of sinks) yield* sink.flush
          for (const sink of sinks) yield* sink.swapGeneration(index, lsn)
        } else {
          // Documents older than the snapshot that it did not rewrite belong to roots gone since
          // (after a TRUNCATE or a lost slot): each load drops them, and marks the index seeded.
          for (const load of loads) yield* load.complete
        }
        return documents
      })
    )
    if (intoNext) return written
    yield* observer.notify(CdcEvent.IndexSeeded({ index, documents: written, lsn: Lsn.format(lsn) }))
    return written
  })
