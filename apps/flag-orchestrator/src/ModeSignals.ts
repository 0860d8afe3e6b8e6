/**
 * Platform signals → debounced mode resolution, on the core `Debouncer`.
 *
 * ```text
 *   setNetworkAvailable ──(at once)──▶ onNetworkAvailable
 *        │ setInForeground │ setMode (override recorded at once)
 *        ▼                 ▼
 *   Debouncer { networkAvailable, inForeground, requestedMode } ──settle──▶ resolve ──▶ apply (no-op when unchanged)
 * ```
 *
 * - Mode resolution is debounced (default window 1 s); a zero window settles inside the setter.
 * - The override is recorded synchronously — every later settle uses it, so automatic
 *   transitions stop at once — and its application is debounced; `offline` bypasses the window.
 * - A foreground → background transition flushes at once (the process may be killed).
 * - Network availability is passed on synchronously; only the mode it implies is debounced.
 * - The debouncer is seeded with the very signals the starting mode was resolved from, so a
 *   process that starts in the background reconciles on the first signal that differs from them.
 */
import { Debouncer } from "@converge/core"
import { Duration, Effect, Equal, Option, Ref, type Scope } from "effect"
import type * as ConnectionMode from "./ConnectionMode.js"
import * as ModeResolution from "./ModeResolution.js"

/** The debounced record. */
export interface Signals extends Record<string, unknown> {
  readonly networkAvailable: boolean
  readonly inForeground: boolean
  readonly requestedMode: Option.Option<ConnectionMode.Mode>
}

/** How to wire the signals. */
export interface Options {
  /** The signals at start (the starting mode is resolved from these). Default: network up, in the foreground, no override. */
  readonly initial?: Partial<Signals>
  /** The mode in the foreground. Default `streaming`. */
  readonly foregroundMode?: ConnectionMode.ForegroundMode
  /** Keep updating in the background (`background` mode) instead of going offline. Default false. */
  readonly runInBackground?: boolean
  /** The debounce window. Default 1 s. */
  readonly window?: Duration.DurationInput
  /** Applies a resolved mode (e.g. `DataSystem.switchMode`). */
  readonly apply: (resolution: ModeResolution.Resolution) => Effect.Effect<void>
  /** Receives network availability at once. */
  readonly onNetworkAvailable?: (available: boolean) => Effect.Effect<void>
}

/** The signal inputs of a running data system. */
export interface ModeSignals {
  /** Network availability: passed on at once; the mode it implies is debounced. */
  readonly setNetworkAvailable: (available: boolean) => Effect.Effect<void>
  /** Foreground or background; foreground → background settles at once. */
  readonly setInForeground: (inForeground: boolean) => Effect.Effect<void>
  /** Sets (`Some`) or clears (`None`) the mode override: recorded at once, applied after the window (`offline` at once). */
  readonly setMode: (mode: Option.Option<ConnectionMode.Mode>) => Effect.Effect<void>
  /** The override recorded now. */
  readonly override: Effect.Effect<Option.Option<ConnectionMode.Mode>>
  /** The latest signals, settled or not. */
  readonly signals: Effect.Effect<Signals>
  /** The mode the latest settle resolved to. */
  readonly resolved: Effect.Effect<ModeResolution.Resolution>
}

const defaults: Signals = { networkAvailable: true, inForeground: true, requestedMode: Option.none() }

const initialSignals = (options: Pick<Options, "initial">): Signals => ({ ...defaults, ...options.initial })

const inputsOf = (
  options: Pick<Options, "foregroundMode" | "runInBackground">,
  signals: Signals,
  override: Option.Option<ConnectionMode.Mode>
): ModeResolution.Inputs => ({
  networkAvailable: signals.networkAvailable,
  inForeground: signals.inForeground,
  runInBackground: options.runInBackground ?? false,
  foregroundMode: options.foregroundMode ?? "streaming",
  override
})

/** The mode to start in: the resolution of `options.initial`. Give it to `DataSystem.make` as `initialMode`. */
export const initialResolution = (
  options: Pick<Options, "initial" | "foregroundMode" | "runInBackground">
): ModeResolution.Resolution => {
  const signals = initialSignals(options)
  return ModeResolution.resolve(inputsOf(options, signals, signals.requestedMode))
}

/** Wires the signals to `options.apply` through a debouncer living in the current scope. */
export const make = (options: Options): Effect.Effect<ModeSignals, never, Scope.Scope> =>
  Effect.gen(function* () {
    const initial = initialSignals(options)
    const override = yield* Ref.make(initial.requestedMode)
    const resolved = yield* Ref.make(initialResolution(options))
    const debouncer = yield* Debouncer.make<Signals>({
      name: "connection-mode",
      initial,
      window: options.window ?? Duration.seconds(1),
      onSettle: (signals) =>
        Effect.gen(function* () {
          const resolution = ModeResolution.resolve(inputsOf(options, signals, yield* Ref.get(override)))
          const previous = yield* Ref.getAndSet(resolved, resolution)
          if (Equal.equals(previous, resolution)) return
          yield* options.apply(resolution)
        })
    })
    return {
      setNetworkAvailable: (available) =>
        (options.onNetworkAvailable?.(available) ?? Effect.void).pipe(
          Effect.zipRight(debouncer.set("networkAvailable", available))
        ),
      setInForeground: (inForeground) =>
        Effect.gen(function* () {
          const wasInForeground = (yield* debouncer.current).inForeground
          yield* debouncer.set("inForeground", inForeground)
          if (wasInForeground && !inForeground) yield* debouncer.flush
        }),
      setMode: (mode) =>
        Effect.gen(function* () {
          yield* Ref.set(override, mode)
          yield* debouncer.set("requestedMode", mode)
          if (Option.contains(mode, "offline")) yield* debouncer.flush
        }),
      override: Ref.get(override),
      signals: debouncer.current,
      resolved: Ref.get(resolved)
    }
  })
