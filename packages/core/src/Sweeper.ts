/**
 * A sweeper: a periodic, leader-gated `tick` (e.g. "re-dispatch completion rows stuck for
 * more than a second") that reports each result and survives its own failures.
 *
 * ```text
 *   schedule ─▶ LeaderGate.whileLeader(tick) ─┬─ Report ─▶ TickCompleted ─┐
 *      ▲                                      ├─ failure ─▶ TickFailed ───┼─▶ observer, log,
 *      └──────────── next tick ◀──────────────┴─ lost lead ▶ TickAbandoned ┘   converge_sweeper_ticks_total
 * ```
 *
 * Ticks run one at a time: the first as soon as this process leads, then as the schedule
 * says (`Effect.repeat` semantics, so `Schedule.spaced("30 seconds")` leaves 30 s between the
 * end of one tick and the start of the next). While the process does not lead, the loop
 * waits and nothing ticks; a tick running when leadership is lost is interrupted and
 * reported as abandoned. A failed tick is reported and the loop goes on.
 */
import { type Cause, Clock, Effect, Exit, Metric, Option, Ref, type Schedule, type Scope } from "effect"
import { LeaderGate } from "./LeaderGate.js"
import { durationBoundaries } from "./Metrics.js"
import type { Observer } from "./Observer.js"

/** A tick finished with `report` after `durationMs`. */
export interface TickCompleted<Report> {
  readonly _tag: "TickCompleted"
  readonly sweeper: string
  readonly report: Report
  readonly durationMs: number
}

/** A tick failed (or died) with `cause` after `durationMs`; the loop goes on. */
export interface TickFailed<E> {
  readonly _tag: "TickFailed"
  readonly sweeper: string
  readonly cause: Cause.Cause<E>
  readonly durationMs: number
}

/** Leadership was lost while a tick ran: the tick was interrupted after `durationMs`. */
export interface TickAbandoned {
  readonly _tag: "TickAbandoned"
  readonly sweeper: string
  readonly durationMs: number
}

/** What a sweeper reports to its observer. */
export type SweeperEvent<Report, E> = TickCompleted<Report> | TickFailed<E> | TickAbandoned

/** `converge_sweeper_ticks_total{sweeper, result}`: ticks by `result` (`success`, `failure`, `abandoned`). */
export const ticksTotal = Metric.counter("converge_sweeper_ticks_total", {
  description: "Total number of sweeper ticks per sweeper and result",
  incremental: true
})

/** `converge_sweeper_tick_duration_seconds{sweeper}`: how long ticks took, whatever their result. */
export const tickDurationSeconds = Metric.histogram(
  "converge_sweeper_tick_duration_seconds",
  durationBoundaries,
  "Length of time per sweeper tick"
)

/** What one tick is: shared by `make` and `runOnce`. */
export interface TickOptions<Report, E, R> {
  /** Names the sweeper in events, logs and the `sweeper` metric label. */
  readonly name: string
  /** One sweep; its `Report` (e.g. rows scanned / fixed / failed) goes to the observer. */
  readonly tick: Effect.Effect<Report, E, R>
  /** Told about every tick's outcome; awaited in line, so wrap a slow one in `FanOut`. */
  readonly observer?: Observer<SweeperEvent<Report, E>>
}

/** The options of `make`. */
export interface Options<Report, E, R, RS> extends TickOptions<Report, E, R> {
  /** When to tick again after a tick, e.g. `Schedule.spaced("30 seconds")`; the loop stops if it ends. */
  readonly schedule: Schedule.Schedule<unknown, unknown, RS>
}

const reportEvent = <Report, E>(
  options: TickOptions<Report, E, unknown>,
  event: SweeperEvent<Report, E>
): Effect.Effect<void> => {
  const result =
    event._tag === "TickCompleted" ? "success" : event._tag === "TickFailed" ? "failure" : "abandoned"
  const log =
    event._tag === "TickCompleted"
      ? Effect.logDebug("sweeper tick completed")
      : event._tag === "TickFailed"
        ? Effect.logError("sweeper tick failed; the loop goes on", event.cause)
        : Effect.logInfo("sweeper tick abandoned: leadership lost")
  return Effect.all(
    [
      Metric.increment(Metric.tagged(Metric.tagged(ticksTotal, "sweeper", options.name), "result", result)),
      Metric.update(Metric.tagged(tickDurationSeconds, "sweeper", options.name), event.durationMs / 1000),
      Effect.annotateLogs(log, { sweeper: options.name, durationMs: event.durationMs }),
      options.observer?.notify(event) ?? Effect.void
    ],
    { discard: true }
  )
}

const outcomeEvent = <Report, E>(
  name: string,
  exit: Exit.Exit<Report, E>,
  durationMs: number
): SweeperEvent<Report, E> =>
  Exit.isSuccess(exit)
    ? { _tag: "TickCompleted", sweeper: name, report: exit.value, durationMs }
    : { _tag: "TickFailed", sweeper: name, cause: exit.cause, durationMs }

const timedExit = <Report, E, R>(
  tick: Effect.Effect<Report, E, R>,
  startedAt: Ref.Ref<Option.Option<number>>
) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    yield* Ref.set(startedAt, Option.some(start))
    const exit = yield* Effect.exit(tick)
    return [exit, (yield* Clock.currentTimeMillis) - start] as const
  })

/**
 * Starts the sweeper loop on a fiber in the current scope (closing the scope stops it). Ticks
 * run only through the `LeaderGate`'s `whileLeader`.
 */
export const make = <Report, E, R, RS>(
  options: Options<Report, E, R, RS>
): Effect.Effect<void, never, Scope.Scope | LeaderGate | R | RS> =>
  Effect.gen(function* () {
    const gate = yield* LeaderGate
    const gatedTick = Effect.gen(function* () {
      const startedAt = yield* Ref.make(Option.none<number>())
      const outcome = yield* gate.whileLeader(timedExit(options.tick, startedAt))
      if (Option.isSome(outcome)) {
        const [exit, durationMs] = outcome.value
        return yield* reportEvent(options, outcomeEvent(options.name, exit, durationMs))
      }
      const started = yield* Ref.get(startedAt)
      if (Option.isNone(started)) return
      const durationMs = (yield* Clock.currentTimeMillis) - started.value
      yield* reportEvent<Report, E>(options, { _tag: "TickAbandoned", sweeper: options.name, durationMs })
    })
    yield* Effect.forkScoped(Effect.repeat(gatedTick, options.schedule))
  })

/**
 * Runs one tick now, reports it like the loop does, and returns its report or fails with its
 * error: for a CLI `sweep --once`. It is not leader-gated; wrap it in `whileLeader` if it
 * must be.
 */
export const runOnce = <Report, E, R>(options: TickOptions<Report, E, R>): Effect.Effect<Report, E, R> =>
  Effect.gen(function* () {
    const [exit, durationMs] = yield* timedExit(options.tick, yield* Ref.make(Option.none<number>()))
    yield* reportEvent(options, outcomeEvent(options.name, exit, durationMs))
    return yield* exit
  })
