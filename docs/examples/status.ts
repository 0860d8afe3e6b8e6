/**
 * A status for a backfill: readable at any time, encoded to JSON by its schema, and carried over
 * when the backfill restarts with the same handle.
 */
import { Status } from "@converge/core"
import { Clock, Data, Effect, Schema, Stream } from "effect"

// #region schema
/** What `/status` shows while the backfill runs. */
export const BackfillStatus = Schema.Struct({
  phase: Schema.Literal("waiting", "copying", "done"),
  rowsCopied: Schema.NonNegativeInt,
  updatedAt: Schema.Date // a Date in the program, an ISO string in JSON
})

/** A fresh status: nothing copied yet. */
export const makeStatus = Status.make(BackfillStatus, {
  phase: "waiting",
  rowsCopied: 0,
  updatedAt: new Date(0)
})
// #endregion schema

// #region pipeline
/** The source went away mid-copy. */
export class ConnectionLost extends Data.TaggedError("ConnectionLost")<{ readonly rowsCopied: number }> {}

/**
 * Copies `rows` rows in batches of `batchSize`, resuming from what `status` says was copied;
 * `failAfterBatches` simulates a crash after that many batches.
 */
export const backfill = (
  status: Status.Status<typeof BackfillStatus.Type, typeof BackfillStatus.Encoded>,
  options: { readonly rows: number; readonly batchSize: number; readonly failAfterBatches?: number }
) =>
  Effect.gen(function* () {
    let batches = 0
    while ((yield* status.get).rowsCopied < options.rows) {
      if (batches === options.failAfterBatches)
        return yield* new ConnectionLost({ rowsCopied: (yield* status.get).rowsCopied })
      const updatedAt = new Date(yield* Clock.currentTimeMillis)
      yield* status.update((current) => ({
        phase: "copying",
        rowsCopied: Math.min(options.rows, current.rowsCopied + options.batchSize),
        updatedAt
      }))
      batches++
    }
    yield* status.update((current) => ({ ...current, phase: "done" }))
  })
// #endregion pipeline

// #region watch
/** Waits until the backfill is done, following the status as it changes. */
export const awaitDone = (status: Status.Status<typeof BackfillStatus.Type, typeof BackfillStatus.Encoded>) =>
  status.changes.pipe(
    Stream.filter((current) => current.phase === "done"),
    Stream.runHead
  )
// #endregion watch
