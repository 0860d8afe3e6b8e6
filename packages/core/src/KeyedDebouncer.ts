/**
 * A keyed debouncer: one independent debounce window per key, for controllers that want to
 * coalesce a burst of triggers for the same key (e.g. many row changes of one document).
 *
 * ```text
 *   set(k1, v) set(k1, v') set(k2, w) ──▶ k1: window ─▶ onSettle(k1, v')
 *                                        k2: window ─▶ onSettle(k2, w)
 * ```
 *
 * A key holds state only while it waits for its window or settles; then it is forgotten, so
 * memory is bounded by the keys currently in flight. Because a settled key is forgotten,
 * setting it again to the same value starts a new window and settles again. Settles of one
 * key never overlap; different keys settle independently. A failed settle is reported (log,
 * `converge_debouncer_settles_total{result="failure"}`, observer) and the key is forgotten
 * like any other: wrap `onSettle` in a retry if it can fail transiently.
 */
import { type Cause, Duration, Effect, Equal, Option, type Scope } from "effect"
import * as SettleReport from "./internal/settleReport.js"
import * as SettleWindows from "./internal/settleWindows.js"
import type { Observer } from "./Observer.js"

/** A key was settled: `onSettle` succeeded after `durationMs`. */
export interface Settled<K, V> {
  readonly _tag: "Settled"
  readonly key: K
  readonly value: V
  readonly durationMs: number
}

/** `onSettle` failed (or died) for `key`. */
export interface SettleFailed<K, V, E> {
  readonly _tag: "SettleFailed"
  readonly key: K
  readonly value: V
  readonly cause: Cause.Cause<E>
}

/** What a keyed debouncer reports to its observer. */
export type KeyedDebouncerEvent<K, V, E> = Settled<K, V> | SettleFailed<K, V, E>

/** A running keyed debouncer. */
export interface KeyedDebouncer<K, V> {
  /** Sets the key's pending value; a no-op when it equals the pending value or after `close`. */
  readonly set: (key: K, value: V) => Effect.Effect<void>
  /** Settles now every key waiting for its window (no argument) or just `key`; keys with nothing pending are skipped. */
  readonly flush: {
    (): Effect.Effect<void>
    (key: K): Effect.Effect<void>
  }
  /** Cancels every pending window; later `set` and `flush` do nothing. Running settles finish. */
  readonly close: Effect.Effect<void>
  /** How many keys hold state right now (waiting or settling). */
  readonly pendingKeys: Effect.Effect<number>
}

/** The options of `make`. */
export interface Options<K, V, E, R> {
  /** Names the debouncer in logs and in the `debouncer` label of `converge_debouncer_settles_total`. */
  readonly name?: string
  /** How long a key must stay unchanged before it settles; zero settles inside `set`. */
  readonly window: Duration.DurationInput
  /** The longest a key's change waits while that key never goes quiet (ignored with a zero window). */
  readonly maxWait?: Duration.DurationInput
  /** Receives each settled key with its latest value. */
  readonly onSettle: (key: K, value: V) => Effect.Effect<void, E, R>
  /** Whether a key's new value equals its pending one; `Equal.equals` by default. */
  readonly equals?: (previous: V, next: V) => boolean
  /** Told about every settle and every failed settle; awaited in line, so wrap a slow one in `FanOut`. */
  readonly observer?: Observer<KeyedDebouncerEvent<K, V, E>>
}

/** Creates a keyed debouncer living in the current scope. Keys are compared with `Equal.equals`. */
export const make = <K, V, E = never, R = never>(
  options: Options<K, V, E, R>
): Effect.Effect<KeyedDebouncer<K, V>, never, Scope.Scope | R> =>
  Effect.gen(function* () {
    const context = yield* Effect.context<R>()
    const name = options.name ?? "keyed-debouncer"
    const equals = options.equals ?? Equal.equals
    const notify = (event: KeyedDebouncerEvent<K, V, E>) => options.observer?.notify(event) ?? Effect.void
    const windows = yield* SettleWindows.make<K, V>({
      window: Duration.decode(options.window),
      maxWait: Option.map(Option.fromNullable(options.maxWait), Duration.decode),
      retainSettled: false,
      initial: [],
      settle: (key, value) =>
        SettleReport.runReported<E>({
          debouncer: name,
          settle: Effect.provide(options.onSettle(key, value), context),
          annotations: { key },
          onSuccess: (durationMs) => notify({ _tag: "Settled", key, value, durationMs }),
          onFailure: (cause) => notify({ _tag: "SettleFailed", key, value, cause })
        })
    })

    const flush = (...key: [] | [K]): Effect.Effect<void> =>
      key.length === 0 ? windows.settleAll : windows.settleNow(key[0], false)

    return {
      set: (key, value) =>
        windows.offer(key, (pending) =>
          Option.isSome(pending) && equals(pending.value, value) ? Option.none() : Option.some(value)
        ),
      flush,
      close: windows.close,
      pendingKeys: windows.size
    }
  })
