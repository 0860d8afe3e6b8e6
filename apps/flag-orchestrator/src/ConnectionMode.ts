/**
 * Connection modes: what a data system runs in each situation.
 *
 * | mode         | initializers      | synchronizers                         | FDv1 fallback     |
 * |--------------|-------------------|---------------------------------------|-------------------|
 * | `streaming`  | cache, polling    | streaming, polling (every 300 s)      | poll every 300 s  |
 * | `polling`    | cache, polling    | polling (every 300 s)                 | poll every 300 s  |
 * | `offline`    | cache             | —                                     | —                 |
 * | `background` | cache             | polling (every 3600 s)                | poll every 3600 s |
 *
 * A table names sources by kind (`SourceSpec`); a `SourceFactory` turns each into a real
 * initializer or synchronizer, so the table stays independent of transport.
 */
import { Data, Duration, Effect, Schema } from "effect"
import type * as Orchestrator from "./Orchestrator.js"
import type * as Source from "./Source.js"

/** The connection modes. */
export const Mode = Schema.Literal("streaming", "polling", "offline", "background")

/** A connection mode. */
export type Mode = typeof Mode.Type

/** The modes a data system can run in the foreground (`background` is chosen by the resolution table). */
export const ForegroundMode = Schema.Literal("streaming", "polling", "offline")

/** A foreground mode. */
export type ForegroundMode = typeof ForegroundMode.Type

/** An initializer by kind: the cache file, or one poll. */
export type InitializerSpec = Data.TaggedEnum<{
  Cache: Record<never, never>
  Polling: Record<never, never>
}>

/** Constructors for `InitializerSpec`. */
export const InitializerSpec = Data.taggedEnum<InitializerSpec>()

/** A synchronizer by kind: FDv2 streaming, FDv2 polling every `interval`, or FDv1 polling every `interval`. */
export type SynchronizerSpec = Data.TaggedEnum<{
  Streaming: Record<never, never>
  Polling: { readonly interval: Duration.Duration }
  Fdv1Polling: { readonly interval: Duration.Duration }
}>

/** Constructors for `SynchronizerSpec`. */
export const SynchronizerSpec = Data.taggedEnum<SynchronizerSpec>()

/** What one mode runs. `fdv1Fallback` is the FDv1 tier, engaged only when the server asks. */
export interface ModeDefinition {
  readonly initializers: ReadonlyArray<InitializerSpec>
  readonly synchronizers: ReadonlyArray<SynchronizerSpec>
  readonly fdv1Fallback: ReadonlyArray<SynchronizerSpec>
}

/** Every mode's definition. */
export type ModeTable = Readonly<Record<Mode, ModeDefinition>>

/** Polling intervals of the default table. */
export interface Intervals {
  /** Foreground polling and FDv1 polling. Default 300 s. */
  readonly pollInterval: Duration.Duration
  /** Background polling and FDv1 polling. Default 3600 s. */
  readonly backgroundPollInterval: Duration.Duration
}

/** The default intervals: 300 s in the foreground, 3600 s in the background. */
export const defaultIntervals: Intervals = {
  pollInterval: Duration.seconds(300),
  backgroundPollInterval: Duration.seconds(3600)
}

/** The mode table of the spec, with `intervals`. */
export const defaultTable = (intervals: Intervals = defaultIntervals): ModeTable => ({
  streaming: {
    initializers: [InitializerSpec.Cache(), InitializerSpec.Polling()],
    synchronizers: [
      SynchronizerSpec.Streaming(),
      SynchronizerSpec.Polling({ interval: intervals.pollInterval })
    ],
    fdv1Fallback: [SynchronizerSpec.Fdv1Polling({ interval: intervals.pollInterval })]
  },
  polling: {
    initializers: [InitializerSpec.Cache(), InitializerSpec.Polling()],
    synchronizers: [SynchronizerSpec.Polling({ interval: intervals.pollInterval })],
    fdv1Fallback: [SynchronizerSpec.Fdv1Polling({ interval: intervals.pollInterval })]
  },
  offline: {
    initializers: [InitializerSpec.Cache()],
    synchronizers: [],
    fdv1Fallback: []
  },
  background: {
    initializers: [InitializerSpec.Cache()],
    synchronizers: [SynchronizerSpec.Polling({ interval: intervals.backgroundPollInterval })],
    fdv1Fallback: [SynchronizerSpec.Fdv1Polling({ interval: intervals.backgroundPollInterval })]
  }
})

/** Builds real sources from specs (the relay's factory speaks HTTP to its upstream; tests script them). */
export interface SourceFactory {
  readonly initializer: (spec: InitializerSpec) => Effect.Effect<Source.Initializer>
  readonly synchronizer: (spec: SynchronizerSpec) => Effect.Effect<Source.Synchronizer>
}

/** The orchestrator's sources for `definition`: initializers, then FDv2 synchronizers, then the FDv1 tier. */
export const sourcesOf = (
  definition: ModeDefinition,
  factory: SourceFactory
): Effect.Effect<Orchestrator.Sources> =>
  Effect.all({
    initializers: Effect.forEach(definition.initializers, factory.initializer),
    synchronizers: Effect.forEach(
      [...definition.synchronizers, ...definition.fdv1Fallback],
      factory.synchronizer
    )
  })

/** The sources of each mode of `table`, built by `factory` (the `sources` option of `DataSystem.make`). */
export const sourcesFor =
  (table: ModeTable, factory: SourceFactory) =>
  (mode: Mode): Effect.Effect<Orchestrator.Sources> =>
    sourcesOf(table[mode], factory)
