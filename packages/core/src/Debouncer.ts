/**
 * A debouncer: accumulates a record of signals (e.g. `{ online, foreground, requestedMode }`)
 * and settles once the window passes quietly, handing the whole record to `onSettle`.
 *
 * ```text
 *   set / update ──▶ record ──(window passes quietly, or maxWait, or flush)──▶ onSettle(record)
 *                                                                               │ failure
 *                                              log + converge_debouncer_settles_total + observer
 * ```
 *
 * Semantics, in short:
 * - `initial` counts as settled: `onSettle` is not called for it. If the consumer has not
 *   acted on `initial` yet, call `flush` once after `make` (otherwise a first signal equal to
 *   its initial value is a no-op and the consumer never hears about it).
 * - A field set to the value it already holds is a no-op: it neither counts as a change nor
 *   restarts the window. Any change restarts the window.
 * - A window that saw a change settles exactly once, with the latest record, even when the
 *   changes cancelled out (A → B → A): a settle equal to the last settled record is not
 *   suppressed. Something may have acted on B meanwhile, or the last settle may have failed,
 *   so suppressing would need a "last delivered" value that is easy to get wrong and would
 *   then swallow the next real settle. `onSettle` should be idempotent (level-triggered).
 * - Settles never overlap; a settle that comes due while another runs follows it with the
 *   latest record.
 */
import { type Cause, Duration, Effect, Equal, Option, type Scope } from "effect"
import * as SettleReport from "./internal/settleReport.js"
import * as SettleWindows from "./internal/settleWindows.js"
import type { Observer } from "./Observer.js"

/**
 * `converge_debouncer_settles_total{debouncer, result}`: settles of every `Debouncer` and
 * `KeyedDebouncer`, by `result` (`success` or `failure`).
 */
export const settlesTotal = SettleReport.settlesTotal

/** A record was settled: `onSettle` succeeded after `durationMs`. */
export interface Settled<S> {
  readonly _tag: "Settled"
  readonly record: S
  readonly durationMs: number
}

/** `onSettle` failed (or died) for `record`; the next change or a `flush` settles again. */
export interface SettleFailed<S, E> {
  readonly _tag: "SettleFailed"
  readonly record: S
  readonly cause: Cause.Cause<E>
}

/** What a debouncer reports to its observer. */
export type DebouncerEvent<S, E> = Settled<S> | SettleFailed<S, E>

/** A running debouncer over the record `S`. */
export interface Debouncer<S extends Record<string, unknown>> {
  /** Sets one field; a no-op when the value is unchanged, after `close`, or equal by `equals`. */
  readonly set: <K extends keyof S>(field: K, value: S[K]) => Effect.Effect<void>
  /** Sets several fields as one change: the window restarts once if any of them changed. */
  readonly update: (changes: Partial<S>) => Effect.Effect<void>
  /**
   * Settles the current record now, cancelling the pending window, whether or not anything
   * changed since the last settle (use it at startup or to retry after a failed settle).
   * When a settle is already running it is followed by another one instead.
   */
  readonly flush: Effect.Effect<void>
  /** Cancels the pending settle; later `set`, `update` and `flush` do nothing. A running settle finishes. */
  readonly close: Effect.Effect<void>
  /** The latest record, settled or not. */
  readonly current: Effect.Effect<S>
}

/** The options of `make`. */
export interface Options<S extends Record<string, unknown>, E, R> {
  /** Names the debouncer in logs and in the `debouncer` label of `converge_debouncer_settles_total`. */
  readonly name?: string
  /** The record before any signal; it counts as settled. */
  readonly initial: S
  /** How long the record must stay unchanged before it settles; zero settles inside the setter. */
  readonly window: Duration.DurationInput
  /** The longest a change waits while the input never goes quiet (ignored with a zero window). */
  readonly maxWait?: Duration.DurationInput
  /** Receives each settled record. */
  readonly onSettle: (settled: S) => Effect.Effect<void, E, R>
  /** Whether a field's new value equals its current one; `Equal.equals` by default. */
  readonly equals?: (previous: S[keyof S], next: S[keyof S]) => boolean
  /** Told about every settle and every failed settle; awaited in line, so wrap a slow one in `FanOut`. */
  readonly observer?: Observer<DebouncerEvent<S, E>>
}

const record = "record" as const

/**
 * Creates a debouncer living in the current scope (closing the scope closes it). With a zero
 * window, a change has settled by the time `set` / `update` returns (unless the setter is
 * called from inside `onSettle`, in which case it settles right after `onSettle` returns).
 */
export const make = <S extends Record<string, unknown>, E = never, R = never>(
  options: Options<S, E, R>
): Effect.Effect<Debouncer<S>, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<R>()
    const name = options.name ?? "debouncer"
    const equals = options.equals ?? Equal.equals
    const notify = (event: DebouncerEvent<S, E>) => options.observer?.notify(event) ?? Effect.void
    const windows = yield* SettleWindows.make<typeof record, S>({
      window: Duration.decode(options.window),
      maxWait: Option.map(Option.fromNullable(options.maxWait), Duration.decode),
      retainSettled: true,
      initial: [[record, options.initial]],
      settle: (_, settled) =>
        SettleReport.runReported<E>({
          debouncer: name,
          settle: Effect.provide(options.onSettle(settled), context),
          annotations: {},
          onSuccess: (durationMs) => notify({ _tag: "Settled", record: settled, durationMs }),
          onFailure: (cause) => notify({ _tag: "SettleFailed", record: settled, cause })
        })
    })

    const applyChanges = (current: S, changes: Partial<S>): Option.Option<S> => {
      let next: S | undefined
      for (const field of Object.keys(changes) as Array<keyof S>) {
        const value = changes[field] as S[keyof S]
        if (!equals(current[field], value)) next = { ...(next ?? current), [field]: value }
      }
      return Option.fromNullable(next)
    }

    return {
      set: (field, value) =>
        windows.offer(
          record,
          Option.flatMap((current) =>
            equals(current[field], value) ? Option.none() : Option.some({ ...current, [field]: value })
          )
        ),
      update: (changes) =>
        windows.offer(
          record,
          Option.flatMap((current) => applyChanges(current, changes))
        ),
      flush: windows.settleNow(record, true),
      close: windows.close,
      current: Effect.map(
        windows.get(record),
        Option.getOrElse(() => options.initial)
      )
    }
  })
