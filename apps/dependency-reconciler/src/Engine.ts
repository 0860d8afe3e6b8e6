/**
 * The engine's runtime in one scoped effect: migrations, then the push dispatcher (optional),
 * the stale-event sweeper and the outbox poller for metrics and status, all for the rest of
 * the scope.
 *
 * ```text
 *   Engine.run(options) ─▶ Schema.migrate
 *                       ├▶ PushDispatcher.run      (push: true)   ─┐
 *                       ├▶ StaleSweeper.run        (LeaderGate)    ├─▶ EngineStatus (status)
 *                       └▶ DepsMetrics.pollPendingEvery            ─┘
 * ```
 *
 * Several replicas may run on one database: dispatch is exactly once per edge.
 */
import { LeaderGate } from "@converge/core"
import { type Migrations, Notifications } from "@converge/pg"
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Context, type Duration, Effect, Layer, Option, type Scope } from "effect"
import * as DepsMetrics from "./DepsMetrics.js"
import type * as Dispatch from "./Dispatch.js"
import * as PushDispatcher from "./PushDispatcher.js"
import * as Schema from "./Schema.js"
import * as StaleSweeper from "./StaleSweeper.js"

/** How to run the engine; every field has a default. */
export interface Options {
  /** Run the LISTEN/NOTIFY push dispatcher. Default true; off, only the sweeper dispatches. */
  readonly push?: boolean | undefined
  /** Time between sweeps (end of one to start of the next). Default 1 second. */
  readonly sweepInterval?: Duration.DurationInput | undefined
  /** Age an event must reach before the sweeper takes it, in ms. Default 1000. */
  readonly staleThresholdMs?: number | undefined
  /** Sweep only this namespace's events. Default: all. */
  readonly namespace?: string | undefined
  /** Sweep only this instance tag's events. Default: all. */
  readonly instanceTag?: string | undefined
  /** Most push dispatches at once. Default 8. */
  readonly pushConcurrency?: number | undefined
  /** How often the pending-events gauges and status are polled. Default 5 seconds. */
  readonly pendingPollInterval?: Duration.DurationInput | undefined
  /** Options of the LISTEN connection (watchdog, reconnect). */
  readonly notifications?: Notifications.Options | undefined
  /** Options of every dispatch (contention retry). */
  readonly dispatch?: Dispatch.Options | undefined
  /** Told about every sweep (e.g. a log observer); metrics and status are recorded anyway. */
  readonly sweepObserver?: StaleSweeper.TickOptions["observer"]
  /** Run migrations first. Default true. */
  readonly migrate?: boolean | undefined
}

/** A running engine: its status, for `/status`. */
export interface RunningEngine {
  readonly status: DepsMetrics.EngineStatusHandle
}

/** The running engine, in context when built from `layer`. */
export class Engine extends Context.Tag("@converge/dependency-reconciler/Engine")<Engine, RunningEngine>() {}

/**
 * Runs migrations, then starts the push dispatcher (if `push`), the sweeper (gated by the
 * `LeaderGate` in context, else always on) and the pending-events poller, for the rest of the
 * scope. Fails only if the migrations fail.
 */
export const run = (
  options: Options = {}
): Effect.Effect<
  RunningEngine,
  Migrations.MigrationFailed,
  Scope.Scope | PgClient.PgClient | SqlClient.SqlClient
> =>
  Effect.gen(function* () {
    if (options.migrate !== false) yield* Schema.migrate
    const push = options.push !== false
    const status = yield* DepsMetrics.makeStatus(push ? "connecting" : "off")
    if (push) {
      const notifications = yield* Notifications.make(options.notifications ?? {})
      yield* PushDispatcher.run({
        concurrency: options.pushConcurrency,
        dispatch: options.dispatch,
        status
      }).pipe(Effect.provideService(Notifications.Notifications, notifications))
    }
    const gate = yield* Effect.serviceOption(LeaderGate.LeaderGate)
    const alwaysLeader = yield* LeaderGate.makeControlled(true)
    yield* StaleSweeper.run({
      interval: options.sweepInterval,
      staleThresholdMs: options.staleThresholdMs,
      namespace: options.namespace,
      instanceTag: options.instanceTag,
      dispatch: options.dispatch,
      status
    }).pipe(
      Effect.provideService(
        LeaderGate.LeaderGate,
        Option.getOrElse(gate, () => alwaysLeader)
      )
    )
    yield* DepsMetrics.pollPendingEvery({ interval: options.pendingPollInterval, status })
    return { status }
  })

/** The engine as a layer providing `Engine` (its status). */
export const layer = (
  options: Options = {}
): Layer.Layer<Engine, Migrations.MigrationFailed, PgClient.PgClient | SqlClient.SqlClient> =>
  Layer.scoped(Engine, run(options))
