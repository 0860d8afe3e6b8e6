/**
 * The sync's metrics (`converge_cdc_*`, Effect `Metric`, served by `@converge/http`'s `/metrics`),
 * mirrored from the same `CdcEvent`s that feed `/status` by `observer`.
 *
 * ```text
 *   ChangesCaptured     ──▶ changes_captured_total
 *   BatchCommitted      ──▶ changes_committed_total, transactions_committed_total, batches_total,
 *                           documents_written_total{index}, flush_seconds
 *   BackfillProgress    ──▶ backfill_rows_done{index}, backfill_rows_total{index}
 *   IndexSeeded         ──▶ backfill_documents_total{index}, backfills_total{index}
 *   DocumentQuarantined ──▶ documents_quarantined_total{index, policy}
 *   IndexStale          ──▶ truncates_total{index}
 *   SlotRecreated       ──▶ slot_recreated_total
 *   WaitingForCommits   ──▶ commit_waits_total
 *   SlotLag             ──▶ slot_lag_bytes
 *   LiveStarted         ──▶ live (1)
 *   ErrorOccurred       ──▶ errors_total{retrying}
 *   Reindex*            ──▶ reindexes_total{index, outcome}, reindexing{index}
 * ```
 */
import { Observer } from "@converge/core"
import { Effect, Metric, MetricBoundaries } from "effect"
import type { CdcEvent } from "./CdcEvent.js"

/** `converge_cdc_changes_captured_total`: row changes taken from the capture queue into batches. */
export const changesCapturedTotal = Metric.counter("converge_cdc_changes_captured_total", {
  description: "Row changes taken from the replication stream into batches",
  incremental: true
})

/** `converge_cdc_changes_committed_total`: row changes whose batch was written, flushed and acknowledged. */
export const changesCommittedTotal = Metric.counter("converge_cdc_changes_committed_total", {
  description: "Row changes written, flushed to every sink and acknowledged",
  incremental: true
})

/** `converge_cdc_transactions_committed_total`: whole source transactions acknowledged. */
export const transactionsCommittedTotal = Metric.counter("converge_cdc_transactions_committed_total", {
  description: "Source transactions flushed to every sink and acknowledged",
  incremental: true
})

/** `converge_cdc_batches_total`: live batches committed. */
export const batchesTotal = Metric.counter("converge_cdc_batches_total", {
  description: "Live batches written, flushed and acknowledged",
  incremental: true
})

/** `converge_cdc_documents_written_total{index}`: live document writes (upserts and deletes) by index. */
export const documentsWrittenTotal = Metric.counter("converge_cdc_documents_written_total", {
  description: "Documents built and written by live batches, by index",
  incremental: true
})

/** Flush time buckets: 1 ms to 60 s. */
export const flushBoundaries = MetricBoundaries.fromIterable([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
])

/** `converge_cdc_flush_seconds`: time from the first sink write of a batch to the last sink flush. */
export const flushSeconds = Metric.histogram(
  "converge_cdc_flush_seconds",
  flushBoundaries,
  "Time to write and flush one live batch to every sink"
)

/** `converge_cdc_backfill_rows_done{index}`: root rows backfilled so far in the running (or last) backfill. */
export const backfillRowsDone = Metric.gauge("converge_cdc_backfill_rows_done", {
  description: "Root rows done in the current or last backfill, by index"
})

/** `converge_cdc_backfill_rows_total{index}`: root rows in the snapshot of the running (or last) backfill. */
export const backfillRowsTotal = Metric.gauge("converge_cdc_backfill_rows_total", {
  description: "Root rows in the snapshot of the current or last backfill, by index"
})

/** `converge_cdc_backfill_documents_total{index}`: documents written by completed backfills. */
export const backfillDocumentsTotal = Metric.counter("converge_cdc_backfill_documents_total", {
  description: "Documents written by completed backfills, by index",
  incremental: true
})

/** `converge_cdc_backfills_total{index}`: completed backfills (first seeding, re-backfills after slot loss or TRUNCATE). */
export const backfillsTotal = Metric.counter("converge_cdc_backfills_total", {
  description: "Completed backfills, by index",
  incremental: true
})

/** `converge_cdc_documents_quarantined_total{index, policy}`: rejected documents let through by `on_error` skip / dead_letter. */
export const documentsQuarantinedTotal = Metric.counter("converge_cdc_documents_quarantined_total", {
  description: "Documents a sink rejected and on_error skipped or dead-lettered, by index and policy",
  incremental: true
})

/** `converge_cdc_truncates_total{index}`: TRUNCATEs that made an index stale. */
export const truncatesTotal = Metric.counter("converge_cdc_truncates_total", {
  description: "TRUNCATEs of a table an index reads, by index",
  incremental: true
})

/** `converge_cdc_slot_recreated_total`: times the slot was found dropped or lost and recreated. */
export const slotRecreatedTotal = Metric.counter("converge_cdc_slot_recreated_total", {
  description: "Replication slot found dropped or invalidated and recreated (every index backfilled again)",
  incremental: true
})

/** `converge_cdc_commit_waits_total`: batches that waited for their transactions to become visible. */
export const commitWaitsTotal = Metric.counter("converge_cdc_commit_waits_total", {
  description:
    "Batches streamed before the source showed all their transactions (commits still finishing, e.g. behind a synchronous standby), built once it did",
  incremental: true
})

/** `converge_cdc_slot_lag_bytes`: WAL bytes between the server's position and the slot's confirmed position. */
export const slotLagBytes = Metric.gauge("converge_cdc_slot_lag_bytes", {
  description: "WAL bytes between pg_current_wal_lsn() and the slot's confirmed_flush_lsn at the last poll"
})

/** `converge_cdc_live`: 1 once live capture started. */
export const live = Metric.gauge("converge_cdc_live", {
  description: "1 once live capture from the slot started"
})

/** `converge_cdc_errors_total{retrying}`: errors reported, by whether the pipeline retries them. */
export const errorsTotal = Metric.counter("converge_cdc_errors_total", {
  description: "Errors reported by the sync, by whether they are retried",
  incremental: true
})

/** `converge_cdc_reindexes_total{index, outcome}`: reindexes `started`, `completed` (swapped in) and `failed`. */
export const reindexesTotal = Metric.counter("converge_cdc_reindexes_total", {
  description:
    "Reindexes started, completed (the new generation swapped in), failed and interrupted (by a crash or stop; started again), by index",
  incremental: true
})

/** `converge_cdc_reindexing{index}`: 1 while a next generation of the index is being built. */
export const reindexing = Metric.gauge("converge_cdc_reindexing", {
  description: "1 while a reindex of the index runs (the current generation serves meanwhile)"
})

const reindexOutcome = (index: string, outcome: "started" | "completed" | "failed" | "interrupted") =>
  Effect.zipRight(
    Metric.increment(Metric.tagged(Metric.tagged(reindexesTotal, "index", index), "outcome", outcome)),
    Metric.set(Metric.tagged(reindexing, "index", index), outcome === "started" ? 1 : 0)
  )

/** Updates the metrics for one event. */
export const record = (event: CdcEvent): Effect.Effect<void> => {
  switch (event._tag) {
    case "ChangesCaptured":
      return Metric.incrementBy(changesCapturedTotal, event.changes)
    case "BatchCommitted":
      return Effect.all(
        [
          Metric.incrementBy(changesCommittedTotal, event.changes),
          Metric.incrementBy(transactionsCommittedTotal, event.transactions),
          Metric.increment(batchesTotal),
          Metric.update(flushSeconds, event.flushMillis / 1000),
          Effect.forEach(
            Object.entries(event.documentsByIndex),
            ([index, documents]) =>
              Metric.incrementBy(Metric.tagged(documentsWrittenTotal, "index", index), documents),
            { discard: true }
          )
        ],
        { discard: true }
      )
    case "BackfillStarted":
      return Effect.zipRight(
        Metric.set(Metric.tagged(backfillRowsTotal, "index", event.index), event.total),
        Metric.set(Metric.tagged(backfillRowsDone, "index", event.index), 0)
      )
    case "BackfillProgress":
      return Effect.zipRight(
        Metric.set(Metric.tagged(backfillRowsTotal, "index", event.index), event.total),
        Metric.set(Metric.tagged(backfillRowsDone, "index", event.index), event.done)
      )
    case "IndexSeeded":
      return Effect.zipRight(
        Metric.incrementBy(Metric.tagged(backfillDocumentsTotal, "index", event.index), event.documents),
        Metric.increment(Metric.tagged(backfillsTotal, "index", event.index))
      )
    case "DocumentQuarantined":
      return Metric.increment(
        Metric.tagged(Metric.tagged(documentsQuarantinedTotal, "index", event.index), "policy", event.policy)
      )
    case "IndexStale":
      return Metric.increment(Metric.tagged(truncatesTotal, "index", event.index))
    case "SlotRecreated":
      return Metric.increment(slotRecreatedTotal)
    case "WaitingForCommits":
      return Metric.increment(commitWaitsTotal)
    case "SlotLag":
      return Metric.set(slotLagBytes, event.bytes)
    case "LiveStarted":
      return Metric.set(live, 1)
    case "ErrorOccurred":
      return Metric.increment(Metric.tagged(errorsTotal, "retrying", String(event.retrying)))
    case "ReindexStarted":
      return reindexOutcome(event.index, "started")
    case "ReindexCompleted":
      return reindexOutcome(event.index, "completed")
    case "ReindexFailed":
      return reindexOutcome(event.index, "failed")
    case "ReindexInterrupted":
      return reindexOutcome(event.index, "interrupted")
    default:
      return Effect.void
  }
}

/** An observer mirroring every event into the metrics above. */
export const observer: Observer.Observer<CdcEvent> = Observer.metricsObserver(record)
