/**
 * Reindex one index while live capture keeps serving the current generation:
 *
 * ```text
 *   beginGeneration (every sink; live writes now go to both generations)
 *     ─▶ slot's confirmed LSN ─▶ BEGIN REPEATABLE READ snapshot ─▶ pages ─▶ writeNextGeneration
 *     ─▶ flush ─▶ swapGeneration (atomic per sink, marks the index seeded at the LSN)
 * ```
 *
 * The backfill documents are tagged with the slot's confirmed LSN read before the snapshot, so a
 * live change the pipeline writes to both generations meanwhile (always a later LSN) is never
 * overwritten by the older snapshot's version, whichever lands first. A crash or failure before
 * the swap leaves the old generation serving; the half-built one is dropped by the next
 * `beginGeneration` or the next start's `ensureIndexes`.
 */
import type { Observer } from "@converge/core"
import type { SqlClient, SqlError } from "@effect/sql"
import { Data, Effect } from "effect"
import * as Backfill from "../backfill/Backfill.js"
import * as Lsn from "../capture/Lsn.js"
import * as DocumentBuilder from "../documents/DocumentBuilder.js"
import { CdcEvent } from "../observe/CdcEvent.js"
import type { IndexPlan } from "../schema/IndexPlan.js"
import type { Sink, SinkUnavailable } from "../sinks/Sink.js"
import * as Slot from "../source/Slot.js"

/** The replication slot a reindex takes its LSN from does not exist (the daemon never started, or it was dropped). */
export class SlotMissing extends Data.TaggedError("SlotMissing")<{ readonly slot: string }> {
  override get message(): string {
    return `replication slot "${this.slot}" does not exist: start the daemon (converge-cdc run) first; a reindex tags its snapshot with the slot's position`
  }
}

/** Why one reindex failed (the old generation keeps serving). */
export type ReindexError = SqlError.SqlError | SinkUnavailable | Backfill.DocumentsRejected | SlotMissing

/** How a reindex runs. */
export interface Options {
  /** Root rows per backfill page. */
  readonly pageSize?: number | undefined
}

/** Reindexes `plan` into every sink; returns the number of documents in the new generation. */
export const run = (
  plan: IndexPlan,
  sinks: ReadonlyArray<Sink>,
  slot: string,
  observer: Observer.Observer<CdcEvent>,
  options: Options = {}
): Effect.Effect<number, ReindexError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const index = plan.name
    yield* observer.notify(CdcEvent.ReindexStarted({ index }))
    for (const sink of sinks) yield* sink.beginGeneration({ name: index, searchable: plan.searchable })
    // Read after every sink dual-writes: each change streamed from here on reaches the next generation.
    const state = yield* Slot.inspect(slot)
    if (state === undefined) return yield* new SlotMissing({ slot })
    const builder = yield* DocumentBuilder.make(plan)
    const documents = yield* Backfill.run(builder, sinks, state.confirmedLsn, observer, {
      pageSize: options.pageSize,
      into: "nextGeneration"
    })
    yield* observer.notify(
      CdcEvent.ReindexCompleted({ index, documents, lsn: Lsn.format(state.confirmedLsn) })
    )
    return documents
  }).pipe(
    Effect.tapError((error) =>
      observer.notify(CdcEvent.ReindexFailed({ index: plan.name, message: error.message }))
    )
  )
