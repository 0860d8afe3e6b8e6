/**
 * Simulated agents: every `interval`, each `running` instance of a simulation reports health to
 * the manager, as a real instance's agent would over the HTTP API. Muting an instance makes it
 * stop reporting while the provider still says it runs (the "instances that stop reporting" fault).
 */
import { type Duration, Effect, Schedule, type Scope } from "effect"
import type { SimulationControls } from "./SimulatedProvider.js"

/** Controls of the simulated agents. */
export interface SimulatedAgents {
  /** The instance's agent stops reporting. */
  readonly mute: (instanceId: string) => Effect.Effect<void>
  /** The instance's agent reports again. */
  readonly unmute: (instanceId: string) => Effect.Effect<void>
}

/** Starts the agents; they report through `report` until the scope closes. A failed report is logged at debug level. */
export const make = (options: {
  readonly controls: SimulationControls
  readonly interval: Duration.DurationInput
  readonly report: (instanceId: string) => Effect.Effect<void, unknown>
}): Effect.Effect<SimulatedAgents, never, Scope.Scope> =>
  Effect.gen(function* () {
    const muted = new Set<string>()
    const round = Effect.flatMap(options.controls.instances, (instances) =>
      Effect.forEach(
        instances.filter((instance) => instance.state === "running" && !muted.has(instance.instanceId)),
        (instance) =>
          options
            .report(instance.instanceId)
            .pipe(Effect.catchAllCause((cause) => Effect.logDebug("simulated agent report refused", cause))),
        { discard: true }
      )
    )
    yield* Effect.forkScoped(Effect.repeat(round, Schedule.spaced(options.interval)))
    return {
      mute: (instanceId) => Effect.sync(() => void muted.add(instanceId)),
      unmute: (instanceId) => Effect.sync(() => void muted.delete(instanceId))
    }
  })
