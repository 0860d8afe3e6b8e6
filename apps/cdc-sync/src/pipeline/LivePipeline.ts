/**
 * The live loop: takes the transaction parts queued by capture, turns them into document writes
 * and acknowledges only what every sink flushed.
 *
 * ```text
 *   parts (whole transactions, or pieces of a large one)
 *     ─▶ wait until the source shows every transaction of the batch (CommitVisibility)
 *     ─▶ resolve: changed rows → affected root ids per index (old and new row images)
 *     ─▶ build: one query per index for the batch's ids (gone ids become deletes)
 *     ─▶ write to every sink (rejections follow on_error) ─▶ flush every sink
 *     ─▶ acknowledge the commit LSN of the last *final* part in the batch
 * ```
 *
 * The next batch is taken, resolved and built (source reads only) while the current one is written
 * and acknowledged, so the source and the sinks work at the same time.
 *
 * **Group flush.** When the next batch is already built by the time the current one is written
 * (the slot is backed up), the flush waits: up to `maxGroup` batches are written, then every sink
 * is flushed once and the last final commit LSN among them is acknowledged. Batches keep their
 * size (`maxChanges`, `maxWait`); only the flush (a WAL fsync on the postgres sink) and the
 * acknowledgement are shared. Nothing is acknowledged before the flush that covers it, and a
 * failed flush writes the whole group again before flushing again (the writes are idempotent).
 *
 * A batch closes at `maxChanges` changes or `maxWait` after its first part (`Batcher`). Documents are built
 * from the current state after the batch's commits and tagged with the batch's highest commit
 * LSN. A whole-batch failure (sink down, source connection lost) retries the same batch with
 * backoff and acknowledges nothing until it succeeds. A TRUNCATE of a table an index reads marks
 * the index stale, then backfills it again and sweeps the documents whose root is gone.
 */
import type { Observer } from "@converge/core"
import type { SqlClient, SqlError } from "@effect/sql"
import { Clock, type Duration, Effect, Fiber, Option, Schedule } from "effect"
import * as Backfill from "../backfill/Backfill.js"
import * as Lsn from "../capture/Lsn.js"
import type { ReplicationStream, TransactionPart } from "../capture/ReplicationStream.js"
import * as AffectedRoots from "../documents/AffectedRoots.js"
import * as DocumentBuilder from "../documents/DocumentBuilder.js"
import { CdcEvent } from "../observe/CdcEvent.js"
import * as IndexPlan from "../schema/IndexPlan.js"
import type { DocumentWrite, Sink, SinkUnavailable } from "../sinks/Sink.js"
import * as CommitVisibility from "../source/CommitVisibility.js"
import * as Batcher from "./Batcher.js"

/** How the loop batches and retries. */
export interface Options {
  /** Most changes per batch (whole parts are never split). */
  readonly maxChanges: number
  /** A batch closes this long after its first part even when smaller (`batch.max_wait_ms`). Default 50 ms. */
  readonly maxWait?: Duration.DurationInput | undefined
  /** Longest pause between retries of a failed batch. Default 10 s. */
  readonly maxRetryDelay?: Duration.DurationInput | undefined
  /** Most batches written before one shared flush while the slot is backed up. Default 4. */
  readonly maxGroup?: number | undefined
}

interface IndexWorker {
  readonly plan: IndexPlan.IndexPlan
  readonly tables: ReadonlySet<string>
  readonly resolver: AffectedRoots.AffectedRoots
  readonly builder: DocumentBuilder.DocumentBuilder
}

/** Runs the loop until interrupted; fails only when `on_error: stop` meets a rejected document. */
export const run = (
  stream: ReplicationStream,
  plans: ReadonlyArray<IndexPlan.IndexPlan>,
  sinks: ReadonlyArray<Sink>,
  observer: Observer.Observer<CdcEvent>,
  options: Options
): Effect.Effect<never, Backfill.DocumentsRejected, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const workers: ReadonlyArray<IndexWorker> = yield* Effect.forEach(plans, (plan) =>
      Effect.all({
        plan: Effect.succeed(plan),
        tables: Effect.succeed(new Set(IndexPlan.tables(plan).map((table) => table.display))),
        resolver: AffectedRoots.make(plan),
        builder: DocumentBuilder.make(plan)
      })
    )
    const retry = Schedule.exponential("100 millis", 2).pipe(
      Schedule.union(Schedule.spaced(options.maxRetryDelay ?? "10 seconds")),
      Schedule.jittered
    )
    const reportAndRetry = <A, R>(
      effect: Effect.Effect<A, SqlError.SqlError | SinkUnavailable | Backfill.DocumentsRejected, R>
    ) =>
      effect.pipe(
        Effect.tapError((error) =>
          error._tag === "DocumentsRejected"
            ? Effect.void
            : observer.notify(CdcEvent.ErrorOccurred({ message: error.message, retrying: true }))
        ),
        Effect.retry({ schedule: retry, while: (error) => error._tag !== "DocumentsRejected" }),
        Effect.catchIf(
          (error): error is SqlError.SqlError | SinkUnavailable => error._tag !== "DocumentsRejected",
          (error) => Effect.die(error)
        )
      )

    const policyOf = (index: string) =>
      workers.find((worker) => worker.plan.name === index)?.plan.onError ?? "stop"

    // Resolve and build: reads the source only, so it may run while the previous batch is written.
    const prepare = (batch: ReadonlyArray<TransactionPart>) =>
      Effect.gen(function* () {
        const changes = batch.flatMap((part) => part.changes)
        // Read the source only once it shows every transaction of the batch.
        yield* CommitVisibility.awaitVisible([...new Set(batch.map((part) => part.xid))], (transactions) =>
          observer.notify(CdcEvent.WaitingForCommits({ transactions }))
        )
        const lsn = batch.reduce((highest, part) => Lsn.max(highest, part.commitLsn), Lsn.zero)
        const writes: Array<DocumentWrite> = []
        const documentsByIndex: Record<string, number> = {}
        for (const worker of workers) {
          const ids = yield* worker.resolver.resolve(changes)
          const built = yield* worker.builder.build(ids)
          const index = worker.plan.name
          for (const document of built.documents)
            writes.push({ index, id: document.id, json: document.json, lsn })
          for (const id of built.gone) writes.push({ index, id, json: null, lsn })
          documentsByIndex[index] = ids.size
        }
        return { batch, changes, lsn, writes, documentsByIndex }
      })

    type Prepared = Effect.Effect.Success<ReturnType<typeof prepare>>
    // Write to every sink (rejections follow on_error); the flush comes later, for a group.
    const write = (prepared: Prepared) =>
      Effect.gen(function* () {
        const { lsn, writes } = prepared
        for (const sink of sinks) {
          const report = yield* sink.write(writes)
          yield* sink.storeDeadLetters(
            report.rejected.filter((rejection) => policyOf(rejection.index) === "dead_letter"),
            lsn
          )
          for (const rejection of report.rejected) {
            const policy =
              workers.find((worker) => worker.plan.name === rejection.index)?.plan.onError ?? "stop"
            if (policy === "stop") {
              return yield* new Backfill.DocumentsRejected({ index: rejection.index, rejected: [rejection] })
            }
            yield* observer.notify(
              CdcEvent.DocumentQuarantined({
                index: rejection.index,
                id: rejection.id,
                sink: sink.name,
                reason: rejection.reason,
                policy
              })
            )
          }
        }
      })

    // Flush every sink once for the group, acknowledge its last final part; then backfill what a TRUNCATE made stale.
    const settle = (group: ReadonlyArray<{ readonly prepared: Prepared; readonly writeMillis: number }>) =>
      Effect.gen(function* () {
        const flushStarted = yield* Clock.currentTimeMillis
        for (const sink of sinks) yield* sink.flush
        const flushMillis = (yield* Clock.currentTimeMillis) - flushStarted
        const parts = group.flatMap(({ prepared }) => prepared.batch)
        const lastFinal = [...parts].reverse().find((part) => part.final)
        if (lastFinal !== undefined) yield* stream.acknowledge(lastFinal.commitLsn)
        const ackedLsn = Lsn.format(yield* stream.confirmed)
        for (const [position, { prepared, writeMillis }] of group.entries()) {
          yield* observer.notify(
            CdcEvent.BatchCommitted({
              transactions: prepared.batch.filter((part) => part.final).length,
              changes: prepared.changes.length,
              documents: prepared.writes.length,
              documentsByIndex: prepared.documentsByIndex,
              // The batch's own write, and the shared flush counted once (on the group's last batch).
              flushMillis: writeMillis + (position === group.length - 1 ? flushMillis : 0),
              ackedLsn
            })
          )
        }
        const truncated = new Set(parts.flatMap((part) => part.truncated))
        if (truncated.size > 0 && lastFinal !== undefined) {
          yield* rebackfill(
            workers.filter((worker) => [...truncated].some((table) => worker.tables.has(table))),
            lastFinal.commitLsn + 1n
          )
        }
      })

    const rebackfill = (stale: ReadonlyArray<IndexWorker>, tag: Lsn.Lsn) =>
      Effect.forEach(
        stale,
        (worker) =>
          Effect.gen(function* () {
            const index = worker.plan.name
            yield* observer.notify(CdcEvent.IndexStale({ index, reason: "a table it reads was truncated" }))
            for (const sink of sinks) yield* sink.clearSeeded(index)
            yield* Backfill.run(worker.builder, sinks, tag, observer)
          }),
        { discard: true }
      )

    const nextBatch = (batcher: Batcher.Batcher<TransactionPart>) =>
      Effect.tap(batcher.next, (batch) =>
        observer.notify(
          CdcEvent.ChangesCaptured({ changes: batch.reduce((count, part) => count + part.changes.length, 0) })
        )
      )

    return yield* Effect.scoped(
      Effect.flatMap(
        Batcher.make(stream.parts, {
          maxWeight: options.maxChanges,
          maxWait: options.maxWait ?? "50 millis",
          weight: (part) => part.changes.length
        }),
        (batcher) =>
          Effect.gen(function* () {
            const prepareNext = Effect.flatMap(nextBatch(batcher), (batch) => reportAndRetry(prepare(batch)))
            // One batch ahead: the next batch is taken and built while this one is written and
            // acknowledged (acknowledgements stay in order: only the loop commits).
            let next = yield* Effect.fork(prepareNext)
            const maxGroup = options.maxGroup ?? 4
            let group: Array<{ readonly prepared: Prepared; readonly writeMillis: number }> = []
            for (;;) {
              const prepared = yield* Fiber.join(next)
              next = yield* Effect.fork(prepareNext)
              const writeStarted = yield* Clock.currentTimeMillis
              // A group's first attempt writes this batch; a retry writes the whole group again.
              yield* reportAndRetry(write(prepared))
              group.push({ prepared, writeMillis: (yield* Clock.currentTimeMillis) - writeStarted })
              const backedUp = Option.isSome(yield* Fiber.poll(next))
              const truncates = prepared.batch.some((part) => part.truncated.length > 0)
              if (backedUp && !truncates && group.length < maxGroup) continue
              const settling = group
              group = []
              yield* settle(settling).pipe(
                Effect.catchIf(
                  (error): error is SqlError.SqlError | SinkUnavailable => error._tag !== "DocumentsRejected",
                  (error) =>
                    observer.notify(CdcEvent.ErrorOccurred({ message: error.message, retrying: true })).pipe(
                      Effect.zipRight(
                        reportAndRetry(
                          Effect.zipRight(
                            Effect.forEach(settling, ({ prepared }) => write(prepared), { discard: true }),
                            settle(settling)
                          )
                        )
                      )
                    )
                )
              )
            }
          })
      )
    )
  })
