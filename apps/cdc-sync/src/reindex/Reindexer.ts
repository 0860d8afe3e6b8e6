/**
 * Starts reindexes in the background of a running daemon, at most one per index at a time: the
 * admin server's `POST /reindex` asks it. Each reindex validates the configuration against the
 * source (for the index's current plan) and runs `Reindex.run`; its progress and outcome are
 * `CdcEvent`s, so `/status` shows it and the daemon's counters carry on.
 */
import type { Observer } from "@converge/core"
import type { SqlClient } from "@effect/sql"
import { Data, Effect, FiberMap, type Scope } from "effect"
import type { CdcConfig } from "../config/CdcConfig.js"
import * as Validation from "../config/Validation.js"
import { CdcEvent } from "../observe/CdcEvent.js"
import type { Sink } from "../sinks/Sink.js"
import * as Reindex from "./Reindex.js"

/** The configuration has no index of that name. */
export class UnknownIndex extends Data.TaggedError("UnknownIndex")<{
  readonly index: string
  readonly known: ReadonlyArray<string>
}> {
  override get message(): string {
    return `unknown index "${this.index}": the configuration defines ${this.known.map((name) => `"${name}"`).join(", ")}`
  }
}

/** A reindex of that index is still running; only one at a time. */
export class AlreadyReindexing extends Data.TaggedError("AlreadyReindexing")<{ readonly index: string }> {
  override get message(): string {
    return `index "${this.index}" is already reindexing; wait for it to finish (see /status)`
  }
}

/** Starts and tracks background reindexes. */
export interface Reindexer {
  /** The indexes of the configuration. */
  readonly indexes: ReadonlyArray<string>
  /** Starts a reindex of `index` in the background; fails at once when it cannot start. */
  readonly start: (index: string) => Effect.Effect<void, UnknownIndex | AlreadyReindexing>
  /** The indexes reindexing now. */
  readonly running: Effect.Effect<ReadonlyArray<string>>
}

/** How reindexes run. */
export interface Options {
  readonly pageSize?: number | undefined
}

/** A reindexer for the daemon of `config`; reindexes still running are interrupted when the scope closes. */
export const make = (
  config: CdcConfig,
  sinks: ReadonlyArray<Sink>,
  observer: Observer.Observer<CdcEvent>,
  options: Options = {}
): Effect.Effect<Reindexer, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function* () {
    const fibers = yield* FiberMap.make<string>()
    const runFork = yield* FiberMap.runtime(fibers)<SqlClient.SqlClient>()
    const lock = yield* Effect.makeSemaphore(1)
    const indexes = config.indexes.map((index) => index.name)

    const reindex = (index: string) =>
      Validation.validate(config).pipe(
        // Reindex.run reports its own failures; a configuration that no longer fits is reported here.
        Effect.tapError((error) =>
          observer.notify(CdcEvent.ReindexFailed({ index, message: error.message }))
        ),
        Effect.flatMap((validated) => {
          const plan = validated.plans.find((candidate) => candidate.name === index)
          return plan === undefined
            ? Effect.dieMessage(`index "${index}" has no plan`)
            : Reindex.run(plan, sinks, config.source.slot, observer, options)
        }),
        Effect.ignore
      )

    return {
      indexes,
      start: (index) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            if (!indexes.includes(index)) return yield* new UnknownIndex({ index, known: indexes })
            if (yield* FiberMap.has(fibers, index)) return yield* new AlreadyReindexing({ index })
            runFork(index, reindex(index))
          })
        ),
      running: Effect.sync(() => [...fibers].map(([index]) => index))
    }
  })
