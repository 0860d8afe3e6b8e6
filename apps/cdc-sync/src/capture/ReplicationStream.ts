/**
 * Live capture from a logical replication slot with `pg-logical-replication` (pgoutput), turned
 * into transaction parts on a bounded queue.
 *
 * ```text
 *   walsender ──copyData──▶ LogicalReplicationService (flowControl: one message at a time)
 *        ▲                        │ begin / insert / update / delete / truncate / message / commit
 *        │                        ▼
 *        │             parts of ≤ maxChanges changes, tagged with the commit LSN ──▶ Queue (bounded)
 *        └── status updates: only `acknowledge(lsn)` by the pipeline, and keepalive replies with that same LSN
 * ```
 *
 * - Acknowledgements are manual (`acknowledge.auto = false`, `timeoutSeconds = 0`): the library
 *   never acks on its own, and keepalives are answered with the pipeline's own confirmed LSN, so
 *   the slot never moves past data that was not flushed.
 * - Backpressure: while the queue is full (`queueCapacity` parts, or parts holding four batches'
 *   worth of changes, `4 × maxChanges`, whichever comes first), the message handler waits, the
 *   library pauses the socket, and the walsender stops sending. Memory is bounded in changes, not
 *   only in parts: bulk transactions come as parts of `maxChanges` changes each.
 * - A transaction larger than `maxChanges` comes in several parts; only its last part is `final`,
 *   and only a final part's commit LSN may be acknowledged.
 * - Values stay in Postgres' text form (the library's type parsers are replaced), so keys compare
 *   exactly with what SQL prints.
 */
import { Data, Duration, Effect, Queue, Runtime, Schedule, type Scope } from "effect"
import { LogicalReplicationService, type Pgoutput, PgoutputPlugin } from "pg-logical-replication"
import * as Lsn from "./Lsn.js"
import type { Row, RowChange } from "./RowChange.js"

/** A whole transaction, or a piece of one when it is larger than `maxChanges`. */
export interface TransactionPart {
  /** The LSN of the transaction's commit record (the same for every part). */
  readonly commitLsn: Lsn.Lsn
  /** The transaction's id (32-bit, as pgoutput sends it). */
  readonly xid: number
  readonly changes: ReadonlyArray<RowChange>
  /** Tables (`schema.name`) truncated in this part. */
  readonly truncated: ReadonlyArray<string>
  /** The last part of the transaction: after it is flushed, `commitLsn` may be acknowledged. */
  readonly final: boolean
}

/** The replication connection failed or the server refused to stream. */
export class CaptureFailed extends Data.TaggedError("CaptureFailed")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** Where and how to stream. */
export interface Options {
  /** A connection string of a role allowed to replicate. */
  readonly url: string
  readonly slot: string
  readonly publication: string
  /** Most changes per part. */
  readonly maxChanges: number
  /** Parts held between capture and processing before capture waits (it also waits at `4 × maxChanges` queued changes). */
  readonly queueCapacity: number
  /** The slot's `confirmed_flush_lsn` at start: what keepalives confirm until the first acknowledgement. */
  readonly startLsn: Lsn.Lsn
}

/** An open stream. */
export interface ReplicationStream {
  /** Transaction parts in commit order. */
  readonly parts: Queue.Dequeue<TransactionPart>
  /** Confirms everything up to and including the transaction committed at `commitLsn` (after it was flushed). */
  readonly acknowledge: (commitLsn: Lsn.Lsn) => Effect.Effect<void>
  /** The last acknowledged commit LSN. */
  readonly confirmed: Effect.Effect<Lsn.Lsn>
  /** Fails when the replication connection fails. */
  readonly failure: Effect.Effect<never, CaptureFailed>
}

// Keeps tuple values as the text Postgres sent instead of the library's JS conversions.
class TextPgoutputPlugin extends PgoutputPlugin {
  override parse(buffer: Buffer): Pgoutput.Message {
    const message = super.parse(buffer)
    if (message.tag === "relation") {
      for (const column of message.columns) column.parser = (raw: unknown) => raw
    }
    return message
  }
}

const rowOf = (tuple: Record<string, unknown> | null | undefined): Row | undefined => {
  if (tuple === null || tuple === undefined) return undefined
  const row: Record<string, string | null> = {}
  for (const [name, value] of Object.entries(tuple)) {
    if (value === null) row[name] = null
    else if (typeof value === "string") row[name] = value
  }
  return row
}

const tableOf = (relation: Pgoutput.MessageRelation) => `${relation.schema}.${relation.name}`

// Capture also waits while the queued parts hold this many batches' worth of changes.
const changeBudgetBatches = 4
const budgetPoll = Duration.millis(5)

/** Starts streaming `slot` from its confirmed position; stops when the scope closes. */
export const open = (options: Options): Effect.Effect<ReplicationStream, CaptureFailed, Scope.Scope> =>
  Effect.gen(function* () {
    const parts = yield* Queue.bounded<TransactionPart>(options.queueCapacity)
    const failed = yield* Effect.makeLatch(false)
    let failure: CaptureFailed | undefined
    let confirmed: Lsn.Lsn = Lsn.zero
    // The position the server records as flushed: just past the last acknowledged commit record.
    let flushed: Lsn.Lsn = options.startLsn
    // The library sends `lsn + 1`; ask it for one less so that exactly `flushed` goes out.
    const sendStatus = () => service.acknowledge(Lsn.format(flushed > 0n ? flushed - 1n : 0n))
    const runtime = yield* Effect.runtime<never>()
    // The changes of the parts still queued: sizes of the parts offered, oldest first, trimmed to
    // the queue's size (the pipeline takes from the front).
    const queuedSizes: Array<number> = []
    let queuedChanges = 0
    const changesQueued = Effect.map(Queue.size(parts), (size) => {
      while (queuedSizes.length > Math.max(size, 0)) queuedChanges -= queuedSizes.shift() ?? 0
      return queuedChanges
    })
    const changeBudget = changeBudgetBatches * options.maxChanges
    // An offer fails only when the queue was shut down (the scope is closing): nothing to deliver then.
    const offer = (part: TransactionPart) =>
      Runtime.runPromiseExit(runtime)(
        Effect.gen(function* () {
          // Large parts fill memory long before the queue is full of parts: wait for the budget too.
          yield* changesQueued.pipe(
            Effect.repeat({
              schedule: Schedule.spaced(budgetPoll),
              until: (queued) => queued === 0 || queued + part.changes.length <= changeBudget
            })
          )
          yield* Queue.offer(parts, part)
          queuedSizes.push(part.changes.length)
          queuedChanges += part.changes.length
        })
      ).then(() => undefined)

    const service = new LogicalReplicationService(
      { connectionString: options.url },
      { acknowledge: { auto: false, timeoutSeconds: 0 }, flowControl: { enabled: true } }
    )
    const plugin = new TextPgoutputPlugin({
      protoVersion: 1,
      publicationNames: [options.publication],
      messages: true
    })

    let commitLsn: Lsn.Lsn = Lsn.zero
    let xid = 0
    let changes: Array<RowChange> = []
    let truncated: Array<string> = []
    service.on("data", async (_lsn: string, message: Pgoutput.Message) => {
      switch (message.tag) {
        case "begin":
          commitLsn = Lsn.parse(message.commitLsn ?? "0/0") ?? Lsn.zero
          xid = message.xid
          changes = []
          truncated = []
          return
        case "insert":
          changes.push({
            table: tableOf(message.relation),
            operation: "insert",
            new: rowOf(message.new),
            old: undefined
          })
          break
        case "update":
          changes.push({
            table: tableOf(message.relation),
            operation: "update",
            new: rowOf(message.new),
            old: rowOf(message.old ?? message.key)
          })
          break
        case "delete":
          changes.push({
            table: tableOf(message.relation),
            operation: "delete",
            new: undefined,
            old: rowOf(message.old ?? message.key)
          })
          break
        case "truncate":
          truncated.push(...message.relations.map(tableOf))
          break
        case "commit": {
          const part = { commitLsn, xid, changes, truncated, final: true }
          changes = []
          truncated = []
          await offer(part)
          return
        }
        default:
          return
      }
      if (changes.length >= options.maxChanges) {
        const part = { commitLsn, xid, changes, truncated, final: false }
        changes = []
        truncated = []
        await offer(part)
      }
    })
    const fail = (cause: unknown) => {
      if (failure !== undefined) return
      failure = new CaptureFailed({
        message: `replication from slot "${options.slot}" failed: ${cause instanceof Error ? cause.message : String(cause)}`,
        cause
      })
      Runtime.runSync(runtime)(failed.open)
    }
    service.on("error", fail)
    // Keepalives are answered with our own confirmed position, never the server's.
    service.on("heartbeat", async (_lsn: string, _timestamp: number, shouldRespond: boolean) => {
      if (shouldRespond) await sendStatus()
    })

    yield* Effect.acquireRelease(
      Effect.sync(() => {
        service.subscribe(plugin, options.slot).catch(fail)
      }),
      () => Effect.promise(() => service.destroy()).pipe(Effect.zipRight(Queue.shutdown(parts)))
    )

    return {
      parts,
      // Just past the commit record: on a restart this transaction is skipped, the next one is not.
      acknowledge: (lsn) =>
        Effect.promise(async () => {
          confirmed = Lsn.max(confirmed, lsn)
          flushed = Lsn.max(flushed, lsn + 1n)
          await sendStatus()
        }),
      confirmed: Effect.sync(() => confirmed),
      failure: Effect.zipRight(
        failed.await,
        Effect.suspend(() => Effect.fail(failure as CaptureFailed))
      )
    }
  })
