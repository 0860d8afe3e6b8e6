/**
 * What the sync reports while it runs, as a tagged union for `Observer<CdcEvent>`: the status,
 * metrics and log observers all fold these.
 */
import { Data } from "effect"

/** An event of the sync pipeline. */
export type CdcEvent = Data.TaggedEnum<{
  /** The publication was created or extended with `tables` (display names); empty when it already covered them. */
  PublicationEnsured: {
    readonly publication: string
    readonly added: ReadonlyArray<string>
    readonly created: boolean
  }
  /** The replication slot exists; `created` when this start created it. */
  SlotEnsured: { readonly slot: string; readonly created: boolean; readonly confirmedLsn: string }
  /**
   * The slot was gone (dropped) or had lost WAL while indexes were seeded: it was recreated and
   * every index is backfilled again, since changes in between are lost to the slot.
   */
  SlotRecreated: { readonly slot: string; readonly reason: string }
  /** The sinks are prepared for `indexes`. */
  IndexesEnsured: { readonly indexes: ReadonlyArray<string> }
  /** A backfill of `index` began: `total` root rows in the snapshot. */
  BackfillStarted: { readonly index: string; readonly total: number }
  /** Backfill progress of `index`: rows done out of total, rows per second and the estimated seconds left. */
  BackfillProgress: {
    readonly index: string
    readonly done: number
    readonly total: number
    readonly rowsPerSecond: number
    readonly etaSeconds: number
  }
  /** `index` is completely backfilled into every sink from the snapshot at `lsn`. */
  IndexSeeded: { readonly index: string; readonly documents: number; readonly lsn: string }
  /** `index` was already seeded in every sink: no backfill. */
  BackfillSkipped: { readonly index: string }
  /** Live capture started from the slot. */
  LiveStarted: { readonly slot: string }
  /** The live loop took `changes` row changes from the capture queue into a batch. */
  ChangesCaptured: { readonly changes: number }
  /** A batch of whole transactions was written, flushed and acknowledged up to `ackedLsn`. */
  BatchCommitted: {
    readonly transactions: number
    readonly changes: number
    readonly documents: number
    readonly documentsByIndex: Readonly<Record<string, number>>
    readonly flushMillis: number
    readonly ackedLsn: string
  }
  /** A sink rejected a document and `on_error` (skip / dead_letter) let the pipeline go on. */
  DocumentQuarantined: {
    readonly index: string
    readonly id: string
    readonly sink: string
    readonly reason: string
    readonly policy: "skip" | "dead_letter"
  }
  /**
   * A batch arrived before `transactions` of its transactions were visible to other sessions
   * (their backends still finishing the commit, e.g. waiting for a synchronous standby): its
   * documents are built once they are.
   */
  WaitingForCommits: { readonly transactions: number }
  /** The slot's lag: WAL bytes between the server's current position and the slot's confirmed position. */
  SlotLag: { readonly bytes: number }
  /** Something failed; `retrying` when the pipeline retries it (a sink down, a lost connection). */
  ErrorOccurred: { readonly message: string; readonly retrying: boolean }
  /** A TRUNCATE reached `index`: it is stale until backfilled again. */
  IndexStale: { readonly index: string; readonly reason: string }
  /**
   * A reindex of `index` was interrupted (a crash or a stop before its swap): the start drops its
   * half-built generation, and the daemon starts the reindex again once live.
   */
  ReindexInterrupted: { readonly index: string }
  /** A reindex of `index` began: a next generation is built while the current one keeps serving. */
  ReindexStarted: { readonly index: string }
  /** The next generation of `index` (`documents` from the snapshot at `lsn`) now serves in every sink. */
  ReindexCompleted: { readonly index: string; readonly documents: number; readonly lsn: string }
  /** A reindex of `index` failed; the previous generation keeps serving. */
  ReindexFailed: { readonly index: string; readonly message: string }
}>

/** Constructors and matchers of `CdcEvent`. */
export const CdcEvent = Data.taggedEnum<CdcEvent>()
