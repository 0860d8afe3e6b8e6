/**
 * Everything before live capture, in the order that leaves no first-run gap:
 *
 * ```text
 *   validate (read only) ─▶ publication covers every table ─▶ sinks ready ─▶ slot exists
 *     (recreated → every index backfilled again) ─▶ for each index not seeded in every sink:
 *     backfill (snapshot taken after the slot)
 * ```
 *
 * The publication comes before the slot so that decoding never meets a change to a table it
 * did not publish yet; the slot comes before the snapshot so that every change the snapshot
 * misses is kept in the slot.
 */
import type { Observer } from "@converge/core"
import type { SqlClient, SqlError } from "@effect/sql"
import { Effect } from "effect"
import * as Backfill from "./backfill/Backfill.js"
import * as Lsn from "./capture/Lsn.js"
import type { CdcConfig } from "./config/CdcConfig.js"
import type * as Problem from "./config/Problem.js"
import * as Validation from "./config/Validation.js"
import * as DocumentBuilder from "./documents/DocumentBuilder.js"
import { CdcEvent } from "./observe/CdcEvent.js"
import * as Sink from "./sinks/Sink.js"
import * as Publication from "./source/Publication.js"
import * as Slot from "./source/Slot.js"

/** How the start behaves. */
export interface Options {
  /** Do not backfill, even indexes never seeded (`--skip-backfill`). */
  readonly skipBackfill?: boolean | undefined
  /** Root rows per backfill page. */
  readonly backfillPageSize?: number | undefined
  /** Backfill only these indexes (`converge-cdc backfill --index`); default every index. */
  readonly only?: ReadonlyArray<string> | undefined
  /** Backfill the indexes even when seeded (`converge-cdc backfill --force`). */
  readonly force?: boolean | undefined
}

/** Why the start failed. */
export type StartupError =
  | Problem.ConfigInvalid
  | SqlError.SqlError
  | Slot.SlotLost
  | Sink.SinkUnavailable
  | Backfill.DocumentsRejected

/** What the start found: the validated configuration, and the reindexes a crash or stop interrupted. */
export interface Prepared extends Validation.Validated {
  /** Indexes whose half-built next generation the start dropped: their reindex is to be started again. */
  readonly interruptedReindexes: ReadonlyArray<string>
}

/** Prepares source and sinks and backfills what needs it. */
export const prepare = (
  config: CdcConfig,
  sinks: ReadonlyArray<Sink.Sink>,
  observer: Observer.Observer<CdcEvent>,
  options: Options = {}
): Effect.Effect<Prepared, StartupError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const validated = yield* Validation.validate(config)
    if (config.source.managePublication) {
      const ensured = yield* Publication.ensure(
        config.source.publication,
        validated.tables,
        validated.publication
      )
      yield* observer.notify(
        CdcEvent.PublicationEnsured({
          publication: config.source.publication,
          added: ensured.added,
          created: ensured.created
        })
      )
    }
    const specs = validated.plans.map((plan) => ({ name: plan.name, searchable: plan.searchable }))
    // Asked before `ensureIndexes`, which drops the half-built generations.
    const interrupted = new Set<string>()
    for (const sink of sinks) {
      for (const index of yield* Sink.interruptedGenerations(sink, specs)) {
        interrupted.add(index)
      }
    }
    for (const index of interrupted) yield* observer.notify(CdcEvent.ReindexInterrupted({ index }))
    for (const sink of sinks) yield* sink.ensureIndexes(specs)
    yield* observer.notify(CdcEvent.IndexesEnsured({ indexes: specs.map((spec) => spec.name) }))
    const existing = yield* Slot.inspect(config.source.slot)
    if (existing?.walStatus === "lost") yield* Slot.drop(config.source.slot)
    const slot = yield* Slot.ensure(config.source.slot)
    // A new slot while some index is seeded: the slot was dropped or lost, changes in between are gone.
    if (slot.created) {
      const seededSomewhere = yield* Effect.forEach(validated.plans, (plan) =>
        Effect.map(
          Effect.forEach(sinks, (sink) => sink.isSeeded(plan.name)),
          (seeded) => seeded.some(Boolean)
        )
      )
      if (seededSomewhere.some(Boolean)) {
        yield* observer.notify(
          CdcEvent.SlotRecreated({
            slot: config.source.slot,
            reason:
              existing === undefined
                ? "the slot was missing (dropped)"
                : "the slot lost WAL it needed (wal_status = lost)"
          })
        )
        for (const plan of validated.plans) {
          for (const sink of sinks) yield* sink.clearSeeded(plan.name)
        }
      }
    }
    yield* observer.notify(
      CdcEvent.SlotEnsured({
        slot: config.source.slot,
        created: slot.created,
        confirmedLsn: Lsn.format(slot.confirmedLsn)
      })
    )
    for (const plan of validated.plans) {
      const seeded = yield* Effect.forEach(sinks, (sink) => sink.isSeeded(plan.name))
      const chosen = options.only === undefined || options.only.includes(plan.name)
      const wanted = chosen && (options.force === true || !seeded.every(Boolean))
      if (options.skipBackfill === true || !wanted) {
        yield* observer.notify(CdcEvent.BackfillSkipped({ index: plan.name }))
        continue
      }
      // The slot's confirmed position just before the snapshot: every streamed change is later.
      const state = yield* Slot.inspect(config.source.slot)
      const builder = yield* DocumentBuilder.make(plan)
      yield* Backfill.run(builder, sinks, state?.confirmedLsn ?? slot.confirmedLsn, observer, {
        pageSize: options.backfillPageSize
      })
      // Just built from a fresh snapshot: nothing left for its interrupted reindex to do.
      interrupted.delete(plan.name)
    }
    return { ...validated, interruptedReindexes: [...interrupted] }
  })
