/**
 * The sync as one Effect: start (validate, publication, slot, sinks, backfill), then live
 * capture until interrupted, with a heartbeat that keeps a quiet slot's lag near zero and a lag
 * poll reported to the observer. The composition root supplies the sinks and the observer; the
 * daemon never names a concrete backend.
 *
 * ```text
 *   Startup.prepare ─▶ ReplicationStream.open ─▶ LivePipeline.run ──┐
 *          ▲                       heartbeat (pg_logical_emit_message) ├─ until interrupted or failed
 *          │                       lag poll (pg_wal_lsn_diff) ─────────┘
 *          └──── capture failed (connection lost, slot dropped): start over, with backoff
 * ```
 */
import type { Observer } from "@converge/core"
import { SqlClient } from "@effect/sql"
import { Duration, Effect, Schedule, type Scope } from "effect"
import type * as Backfill from "./backfill/Backfill.js"
import * as ReplicationStream from "./capture/ReplicationStream.js"
import type { CdcConfig } from "./config/CdcConfig.js"
import { CdcEvent } from "./observe/CdcEvent.js"
import * as LivePipeline from "./pipeline/LivePipeline.js"
import * as Startup from "./Startup.js"
import type { Sink } from "./sinks/Sink.js"
import * as Slot from "./source/Slot.js"

/** What the daemon needs besides the configuration. */
export interface Options {
  /** The source connection string (for the replication connection; the `SqlClient` in context must point at the same database). */
  readonly url: string
  readonly sinks: ReadonlyArray<Sink>
  readonly observer: Observer.Observer<CdcEvent>
  readonly skipBackfill?: boolean | undefined
  readonly backfillPageSize?: number | undefined
  /** How often a heartbeat message is written to the WAL so a quiet slot still advances. Default 10 s. */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** How often the slot's lag is measured. Default 15 s. */
  readonly lagPollInterval?: Duration.DurationInput | undefined
  /** Longest pause between retries of a failed batch. Default 10 s. */
  readonly maxRetryDelay?: Duration.DurationInput | undefined
  /**
   * Starts again, once live, a reindex that a crash or stop interrupted (`ReindexInterrupted`);
   * without it, the interrupted reindex is only reported.
   */
  readonly resumeReindex?: ((index: string) => Effect.Effect<void>) | undefined
}

/** Why the daemon stopped. */
export type DaemonError = Startup.StartupError | ReplicationStream.CaptureFailed | Backfill.DocumentsRejected

/**
 * Runs the sync until interrupted or failed. When the replication connection fails (the server
 * restarted, the slot was dropped) it starts over with backoff: a missing slot is recreated and
 * every index backfilled again (`SlotRecreated`).
 */
export const run = (
  config: CdcConfig,
  options: Options
): Effect.Effect<never, DaemonError, SqlClient.SqlClient> =>
  Effect.scoped(runOnce(config, options)).pipe(
    Effect.tapError((error) =>
      error._tag === "CaptureFailed"
        ? options.observer.notify(CdcEvent.ErrorOccurred({ message: error.message, retrying: true }))
        : Effect.void
    ),
    Effect.retry({
      while: (error) => error._tag === "CaptureFailed",
      schedule: Schedule.exponential("200 millis").pipe(
        Schedule.union(Schedule.spaced(options.maxRetryDelay ?? Duration.seconds(10)))
      )
    })
  )

const runOnce = (
  config: CdcConfig,
  options: Options
): Effect.Effect<never, DaemonError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const { observer } = options
    const prepared = yield* Startup.prepare(config, options.sinks, observer, {
      skipBackfill: options.skipBackfill,
      backfillPageSize: options.backfillPageSize
    })
    const slot = yield* Slot.ensure(config.source.slot)
    const stream = yield* ReplicationStream.open({
      url: options.url,
      slot: config.source.slot,
      publication: config.source.publication,
      maxChanges: config.batch.maxChanges,
      queueCapacity: config.queueCapacity,
      startLsn: slot.confirmedLsn
    })
    yield* observer.notify(CdcEvent.LiveStarted({ slot: config.source.slot }))
    // In the background beside live capture, as a reindex asked for over the admin API.
    if (options.resumeReindex !== undefined) {
      for (const index of prepared.interruptedReindexes) yield* options.resumeReindex(index)
    }

    const reportFailure = (what: string) => (error: { readonly message: string }) =>
      observer.notify(CdcEvent.ErrorOccurred({ message: `${what}: ${error.message}`, retrying: true }))
    yield* sql`SELECT pg_logical_emit_message(true, 'converge_cdc_heartbeat', '')`.pipe(
      Effect.catchAll(reportFailure("heartbeat")),
      Effect.repeat(Schedule.spaced(options.heartbeatInterval ?? Duration.seconds(10))),
      Effect.forkScoped
    )
    yield* sql<{ readonly bytes: number | null }>`
      SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS bytes
      FROM pg_replication_slots WHERE slot_name = ${config.source.slot}`.pipe(
      Effect.flatMap(([row]) =>
        row?.bytes === null || row?.bytes === undefined
          ? Effect.void
          : observer.notify(CdcEvent.SlotLag({ bytes: row.bytes }))
      ),
      Effect.catchAll(reportFailure("lag poll")),
      Effect.repeat(Schedule.spaced(options.lagPollInterval ?? Duration.seconds(15))),
      Effect.forkScoped
    )
    return yield* Effect.raceFirst(
      LivePipeline.run(stream, prepared.plans, options.sinks, observer, {
        maxChanges: config.batch.maxChanges,
        maxWait: Duration.millis(config.batch.maxWaitMs),
        maxRetryDelay: options.maxRetryDelay
      }),
      stream.failure
    )
  })
