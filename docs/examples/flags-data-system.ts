/**
 * The data system as a library: the spec's mode table built by your source factory, a
 * connection mode resolved from debounced platform signals, and the flags read from the store.
 */
import { ConnectionMode, DataSystem, ModeSignals, Store } from "@converge/flag-orchestrator"
import { Effect } from "effect"

/** Starts a data system in the current scope and wires the platform signals to it. */
export const start = (factory: ConnectionMode.SourceFactory) =>
  Effect.gen(function* () {
    const modes = { foregroundMode: "streaming", runInBackground: true } as const
    const dataSystem = yield* DataSystem.make({
      sources: ConnectionMode.sourcesFor(ConnectionMode.defaultTable(), factory),
      initialMode: ModeSignals.initialResolution(modes),
      orchestrator: { recoveryStart: "valid-window" }
    })
    const signals = yield* ModeSignals.make({
      ...modes,
      apply: dataSystem.switchMode,
      onNetworkAvailable: dataSystem.setNetworkAvailable
    })
    return { dataSystem, signals }
  })

/** The value of flag `key`, if the store holds it. */
export const flagValue = (dataSystem: DataSystem.DataSystem, key: string) =>
  Effect.map(dataSystem.store, (store) => Store.get(store, "flag", key))
