/**
 * Runs our whole pipeline as the daemon runs it (`Daemon.run`: slot → `ReplicationStream` →
 * `LivePipeline` → postgres sink flushed → acknowledged), on a source database and a sink
 * database of the same server, until a given number of row changes were committed to the sink
 * and acknowledged (counted from `BatchCommitted` events, which come after the acknowledgement).
 */
import { Observer } from "@converge/core"
import { Deferred, Effect, Fiber, Layer, Ref, type Scope } from "effect"
import type { CdcConfig } from "../../src/config/CdcConfig.js"
import * as Daemon from "../../src/Daemon.js"
import type { CdcEvent } from "../../src/observe/CdcEvent.js"
import * as PostgresSink from "../../src/sinks/PostgresSink.js"
import type { Sink } from "../../src/sinks/Sink.js"
import * as BenchServer from "./BenchServer.js"

/** A running daemon and what it has done so far. */
export interface Running {
  /**
   * Waits until at least `changes` row changes were flushed and acknowledged; returns when it
   * happened (`performance.now()`). A daemon failure is a defect of the run.
   */
  readonly awaitChanges: (changes: number) => Effect.Effect<number>
  /** When live capture started (`performance.now()`). */
  readonly liveStarted: Effect.Effect<number>
  /** Batches and documents written so far. */
  readonly totals: Effect.Effect<Totals>
  /** Interrupts the daemon (it is also interrupted when the scope closes). */
  readonly stop: Effect.Effect<void>
}

/** What the daemon committed so far. */
export interface Totals {
  readonly batches: number
  readonly changes: number
  readonly documents: number
  /** Milliseconds spent writing to and flushing the sink, summed over batches. */
  readonly sinkMillis: number
}

/** A postgres sink writing into schema `schema` of the database at `sinkUrl`, on its own pool. */
export const postgresSink = (sinkUrl: string, schema: string): Effect.Effect<Sink, never, Scope.Scope> =>
  Effect.gen(function* () {
    // Built in the caller's scope: the pool lives as long as the sink is used.
    const context = yield* Layer.build(BenchServer.clientLayer(sinkUrl, 2))
    return yield* PostgresSink.make({ name: "search", schema, textSearchConfig: "simple" }).pipe(
      Effect.provide(context)
    )
  }).pipe(Effect.orDie)

/** Starts the daemon (no backfill) in the scope; it is interrupted when the scope closes. */
export const start = (
  config: CdcConfig,
  sourceUrl: string,
  sink: Sink
): Effect.Effect<Running, never, Scope.Scope> =>
  Effect.gen(function* () {
    const totals = yield* Ref.make<Totals>({ batches: 0, changes: 0, documents: 0, sinkMillis: 0 })
    const started = yield* Deferred.make<number>()
    const waiters = yield* Ref.make<
      ReadonlyArray<{ readonly changes: number; readonly done: Deferred.Deferred<number> }>
    >([])
    const observer = Observer.make((event: CdcEvent) =>
      Effect.gen(function* () {
        if (event._tag === "LiveStarted") yield* Deferred.succeed(started, performance.now())
        if (event._tag !== "BatchCommitted") return
        const now = performance.now()
        const after = yield* Ref.updateAndGet(totals, (current) => ({
          batches: current.batches + 1,
          changes: current.changes + event.changes,
          documents: current.documents + event.documents,
          sinkMillis: current.sinkMillis + event.flushMillis
        }))
        for (const waiter of yield* Ref.get(waiters)) {
          if (after.changes >= waiter.changes) yield* Deferred.succeed(waiter.done, now)
        }
      })
    )
    const daemon = yield* Daemon.run(config, {
      url: sourceUrl,
      sinks: [sink],
      observer,
      skipBackfill: true
    }).pipe(Effect.provide(BenchServer.clientLayer(sourceUrl, 4)), Effect.orDie, Effect.forkScoped)
    const orDaemonFailure = <A>(effect: Effect.Effect<A>) =>
      Effect.raceFirst(effect, Fiber.join(daemon).pipe(Effect.zipRight(Effect.never)))
    return {
      liveStarted: orDaemonFailure(Deferred.await(started)),
      awaitChanges: (changes) =>
        orDaemonFailure(
          Effect.gen(function* () {
            const done = yield* Deferred.make<number>()
            yield* Ref.update(waiters, (all) => [...all, { changes, done }])
            const current = yield* Ref.get(totals)
            if (current.changes >= changes) yield* Deferred.succeed(done, performance.now())
            return yield* Deferred.await(done)
          })
        ),
      totals: Ref.get(totals),
      stop: Fiber.interrupt(daemon).pipe(Effect.asVoid)
    }
  })
