/**
 * The contract between the pipeline and a destination of documents. A sink receives batches of
 * writes (upserts and deletes, each tagged with the LSN of the source position it reflects),
 * reports per-document rejections instead of failing the batch, and makes everything written so
 * far durable on `flush`. The pipeline acknowledges a source position only after `flush`
 * succeeded on every sink.
 *
 * ```text
 *   pipeline ── write(batch) ──▶ Sink ──▶ WriteReport { rejected }   (on_error decides)
 *            ── flush ─────────▶ Sink ──▶ durable                     (then ack the slot)
 * ```
 *
 * A whole-batch failure (connection refused, 503, a missing table) is `SinkUnavailable`: the
 * pipeline retries with backoff and acknowledges nothing meanwhile.
 *
 * Reindexing uses **generations**: `beginGeneration` starts an empty next generation of an index
 * (live `write`s then go to both), the reindex backfills it through `writeNextGeneration`, and
 * `swapGeneration` atomically makes it the serving one. A crash in between leaves the old
 * generation serving; the half-built one is dropped by the next `beginGeneration` or
 * `ensureIndexes`. A serving generation backfilled again meanwhile (`clearSeeded` / `sweep` after
 * a TRUNCATE or slot loss) may make a sink abandon the next one (its snapshot may hold roots that
 * are gone): `writeNextGeneration` and `swapGeneration` then fail and the reindex is asked again.
 *
 * A **backfill** of the serving generation goes through `openBackfill` (see `BackfillLoad`): a
 * sink may load it its own fastest way; by default it is `write`, then `sweep`, `flush` and
 * `markSeeded`.
 */
import type { Scope } from "effect"
import { Data, Effect } from "effect"
import type { Lsn } from "../capture/Lsn.js"

/** One document write: `json` is the document, or `null` to delete it. */
export interface DocumentWrite {
  readonly index: string
  readonly id: string
  readonly json: string | null
  /** The source position this write reflects; a sink never lets an older one overwrite a newer one. */
  readonly lsn: Lsn
}

/** A document the sink refused, and why. */
export interface Rejection {
  readonly index: string
  readonly id: string
  readonly json: string | null
  readonly reason: string
}

/** What a write did: the rejected documents (everything else was written). */
export interface WriteReport {
  readonly rejected: ReadonlyArray<Rejection>
}

/** What a sink needs to know about an index to prepare for it. */
export interface IndexSpec {
  readonly name: string
  /** Dot paths into the document to index for full-text search. */
  readonly searchable: ReadonlyArray<string>
}

/** The sink cannot take the batch at all (transport down, refused, misconfigured); retry later. */
export class SinkUnavailable extends Data.TaggedError("SinkUnavailable")<{
  readonly sink: string
  readonly message: string
  readonly cause?: unknown
}> {}

/** A destination of documents. */
export interface Sink {
  /** The sink's name in the configuration. */
  readonly name: string
  /** Creates what the indexes need (tables, mappings); idempotent. */
  readonly ensureIndexes: (indexes: ReadonlyArray<IndexSpec>) => Effect.Effect<void, SinkUnavailable>
  /**
   * The indexes among `indexes` with a next generation that no reindex of this process is
   * building: a reindex a crash or a stop interrupted before its swap (`ensureIndexes` then drops
   * it, and the daemon starts that reindex again). Optional: a sink that keeps no generations it
   * can see leaves it out.
   */
  readonly interruptedGenerations?: (
    indexes: ReadonlyArray<IndexSpec>
  ) => Effect.Effect<ReadonlyArray<string>, SinkUnavailable>
  /** Writes a batch; per-document refusals come back in the report. */
  readonly write: (writes: ReadonlyArray<DocumentWrite>) => Effect.Effect<WriteReport, SinkUnavailable>
  /**
   * Stores rejected documents with their reason in the sink's dead-letter store (`on_error:
   * dead_letter`); durable with the next `flush`.
   */
  readonly storeDeadLetters: (
    rejections: ReadonlyArray<Rejection>,
    lsn: Lsn
  ) => Effect.Effect<void, SinkUnavailable>
  /** Makes every write so far durable. */
  readonly flush: Effect.Effect<void, SinkUnavailable>
  /** Whether `index` was completely backfilled into this sink (a sink without durable state says false). */
  readonly isSeeded: (index: string) => Effect.Effect<boolean, SinkUnavailable>
  /** Records that `index` was completely backfilled from a snapshot at `lsn`. */
  readonly markSeeded: (index: string, lsn: Lsn) => Effect.Effect<void, SinkUnavailable>
  /**
   * Deletes every document of `index` last written before `lsn` (after a re-backfill tagged `lsn`,
   * those are the documents whose root no longer exists). A sink without stored state does nothing.
   */
  readonly sweep: (index: string, lsn: Lsn) => Effect.Effect<void, SinkUnavailable>
  /** Forgets that `index` was backfilled (it is stale: TRUNCATE, slot loss), so the next start backfills it. */
  readonly clearSeeded: (index: string) => Effect.Effect<void, SinkUnavailable>
  /**
   * Starts an empty next generation of `index` (dropping a half-built one a crash left behind);
   * from then on `write` sends that index's writes to both the serving and the next generation.
   */
  readonly beginGeneration: (index: IndexSpec) => Effect.Effect<void, SinkUnavailable>
  /** Writes (backfill) documents into the next generation only. */
  readonly writeNextGeneration: (
    writes: ReadonlyArray<DocumentWrite>
  ) => Effect.Effect<WriteReport, SinkUnavailable>
  /**
   * Atomically makes the next generation of `index` the one that serves (alias swap in OpenSearch,
   * table rename in Postgres), records it seeded at `lsn`, and drops the old generation.
   */
  readonly swapGeneration: (index: string, lsn: Lsn) => Effect.Effect<void, SinkUnavailable>
  /**
   * Opens a bulk load of `index` from a snapshot tagged `lsn`, for a sink with a faster way to
   * take a whole index than `write` (the postgres sink loads a new table with `COPY`). Closing
   * the scope before `complete` abandons the load and leaves the index as it was. Optional:
   * `openBackfill` (the function) falls back to writing through `write`.
   */
  readonly openBackfill?: (
    index: IndexSpec,
    lsn: Lsn
  ) => Effect.Effect<BackfillLoad, SinkUnavailable, Scope.Scope>
}

/**
 * A backfill's way into one sink: every root of one snapshot, as pages of writes with distinct
 * ids, then `complete`. Writes of other sources (live changes of another process) may land in the
 * index meanwhile, always with LSNs after the snapshot's.
 */
export interface BackfillLoad {
  /** Writes one page of the snapshot's documents; may run concurrently with other pages. */
  readonly write: (writes: ReadonlyArray<DocumentWrite>) => Effect.Effect<WriteReport, SinkUnavailable>
  /**
   * Makes the load the content of the index: every document last written before the snapshot
   * and not rewritten by it is gone (its root no longer exists), everything is durable, and the
   * index is marked seeded at the snapshot's LSN.
   */
  readonly complete: Effect.Effect<void, SinkUnavailable>
}

/** `sink.interruptedGenerations`, or none for a sink that does not implement it. */
export const interruptedGenerations = (
  sink: Sink,
  indexes: ReadonlyArray<IndexSpec>
): Effect.Effect<ReadonlyArray<string>, SinkUnavailable> =>
  sink.interruptedGenerations?.(indexes) ?? Effect.succeed([])

/**
 * The sink's own `openBackfill`, else a load through `write` that completes with `sweep`,
 * `flush` and `markSeeded`.
 */
export const openBackfill = (
  sink: Sink,
  index: IndexSpec,
  lsn: Lsn
): Effect.Effect<BackfillLoad, SinkUnavailable, Scope.Scope> =>
  sink.openBackfill?.(index, lsn) ??
  Effect.succeed({
    write: sink.write,
    complete: Effect.zipRight(
      Effect.zipRight(sink.sweep(index.name, lsn), sink.flush),
      sink.markSeeded(index.name, lsn)
    )
  })

/** Keeps, per index and id, only the write with the highest LSN (the later one on equal LSNs). */
export const latestPerDocument = (writes: ReadonlyArray<DocumentWrite>): ReadonlyArray<DocumentWrite> => {
  const latest = new Map<string, DocumentWrite>()
  for (const write of writes) {
    const key = `${write.index}\u0000${write.id}`
    const previous = latest.get(key)
    if (previous === undefined || previous.lsn <= write.lsn) latest.set(key, write)
  }
  return [...latest.values()]
}
