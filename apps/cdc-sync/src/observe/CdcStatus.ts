/**
 * What `/status` shows: the phase, each index's state, change and document counters, slot lag
 * and errors — folded from `CdcEvent`s by `reduce`.
 */
import { Schema } from "effect"
import type { CdcEvent } from "./CdcEvent.js"

/** The state of one index; `reindexing` while a next generation is built (the current one serves). */
export const IndexState = Schema.Literal("pending", "backfilling", "seeded", "stale", "reindexing")

/** The schema of the status. */
export const CdcStatus = Schema.Struct({
  phase: Schema.Literal("starting", "backfilling", "live", "stopped"),
  startedAt: Schema.Date,
  indexes: Schema.Record({ key: Schema.String, value: IndexState }),
  changesCaptured: Schema.Number,
  changesCommitted: Schema.Number,
  /** Captured but not yet committed (a batch being written, or retried while a sink is down). */
  changesInFlight: Schema.Number,
  documentsWritten: Schema.Number,
  batches: Schema.Number,
  quarantined: Schema.Number,
  truncates: Schema.Number,
  slotLagBytes: Schema.NullOr(Schema.Number),
  ackedLsn: Schema.NullOr(Schema.String),
  errors: Schema.Number,
  lastError: Schema.NullOr(Schema.String)
})

/** The status. */
export type CdcStatus = typeof CdcStatus.Type

/** The status before anything ran. */
export const initial = (startedAt: Date, indexes: ReadonlyArray<string>): CdcStatus => ({
  phase: "starting",
  startedAt,
  indexes: Object.fromEntries(indexes.map((index) => [index, "pending" as const])),
  changesCaptured: 0,
  changesCommitted: 0,
  changesInFlight: 0,
  documentsWritten: 0,
  batches: 0,
  quarantined: 0,
  truncates: 0,
  slotLagBytes: null,
  ackedLsn: null,
  errors: 0,
  lastError: null
})

/** Folds one event into the status. */
export const reduce = (status: CdcStatus, event: CdcEvent): CdcStatus => {
  const withIndex = (index: string, state: typeof IndexState.Type) => ({
    ...status.indexes,
    [index]: state
  })
  switch (event._tag) {
    case "BackfillStarted":
      return {
        ...status,
        phase: status.phase === "starting" ? "backfilling" : status.phase,
        indexes: withIndex(
          event.index,
          status.indexes[event.index] === "reindexing" ? "reindexing" : "backfilling"
        )
      }
    case "IndexSeeded":
    case "BackfillSkipped":
      return { ...status, indexes: withIndex(event.index, "seeded") }
    case "LiveStarted":
      return { ...status, phase: "live" }
    case "ChangesCaptured":
      return {
        ...status,
        changesCaptured: status.changesCaptured + event.changes,
        changesInFlight: status.changesInFlight + event.changes
      }
    case "BatchCommitted":
      return {
        ...status,
        changesCommitted: status.changesCommitted + event.changes,
        changesInFlight: Math.max(status.changesInFlight - event.changes, 0),
        documentsWritten: status.documentsWritten + event.documents,
        batches: status.batches + 1,
        ackedLsn: event.ackedLsn
      }
    case "DocumentQuarantined":
      return { ...status, quarantined: status.quarantined + 1 }
    case "ReindexStarted":
      return { ...status, indexes: withIndex(event.index, "reindexing") }
    case "ReindexCompleted":
      return { ...status, indexes: withIndex(event.index, "seeded") }
    case "ReindexFailed":
      return {
        ...status,
        errors: status.errors + 1,
        lastError: `reindex of "${event.index}" failed: ${event.message}`,
        indexes: withIndex(event.index, "seeded")
      }
    case "IndexStale":
      return { ...status, truncates: status.truncates + 1, indexes: withIndex(event.index, "stale") }
    case "SlotLag":
      return { ...status, slotLagBytes: event.bytes }
    case "ErrorOccurred":
      return { ...status, errors: status.errors + 1, lastError: event.message }
    default:
      return status
  }
}
