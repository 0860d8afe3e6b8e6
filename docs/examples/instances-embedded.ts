/**
 * The instance manager inside a program of your own: the config (YAML), the simulated cloud and
 * its agents, a Postgres leader gate with term-fenced writes, and a notifier of your own. The
 * program provides the database (`PgClient` and `SqlClient`), e.g. `PgDatabase.layerFromEnvOrEmbedded`.
 */
import { LeaderGate } from "@converge/core"
import {
  Fence,
  InstanceManager,
  ManagerConfig,
  ManagerMetrics,
  Notifier,
  Provider,
  SimulatedAgents,
  SimulatedProvider,
  Schema as StateSchema
} from "@converge/instance-manager"
import { PgLeaderGate } from "@converge/pg"
import { Duration, Effect } from "effect"

/** Two groups on the simulated cloud; `web` is replaced within a budget of one instance per 10 minutes. */
export const config = `
leaderLockKey: 7300001
provider: { type: simulated, createLatency: 50ms, bootTime: 2s, api: { burst: 100, perSecond: 20 } }
createRateLimit: { burst: 10, perSecond: 5 }
groups:
  - key: web
    desiredSize: 3
    healthInterval: 10s
    drainTimeout: 1m
    replacementBudget: { maxReplacements: 1, window: 10m }
    template: { image: "web:1.4" }
  - { key: worker, desiredSize: 2, healthInterval: 10s }
`

/** Where drains and errors go: here, the log. A real one would tell the workload to move off. */
const notifier: Notifier.Notifier.Service = {
  notifyDrain: (drain) =>
    Effect.logInfo(
      `drain ${drain.group}/${drain.instanceId}: ${drain.reason}, deleted at ${drain.deleteAt.toISOString()}`
    ),
  notifyError: (error) => Effect.logError(`${error.group}: ${error.message}`)
}

/**
 * Migrates the manager's tables, then starts it; it stops with the scope. `instant` takes the
 * simulated cloud's latencies and boot time away, for tests on `TestClock` (a pass sleeping on
 * the test's clock would wait for the test, which waits for the pass).
 */
export const start = (options: { readonly instant?: boolean } = {}) =>
  Effect.gen(function* () {
    // A failed migration is a defect here: the program cannot run without its tables.
    yield* Effect.orDie(StateSchema.migrate)
    const settings = yield* ManagerConfig.decodeYaml(config, "instances.yaml")
    if (settings.provider.type !== "simulated")
      return yield* Effect.dieMessage("this example runs the simulated cloud")
    const simulation = yield* SimulatedProvider.make(
      options.instant === true
        ? {
            ...settings.provider,
            createLatency: Duration.zero,
            deleteLatency: Duration.zero,
            describeLatency: Duration.zero,
            bootTime: Duration.zero
          }
        : settings.provider
    )
    const gate = yield* PgLeaderGate.makeFromClient({
      lockKey: settings.leaderLockKey,
      name: "instances-example"
    })
    const manager = yield* InstanceManager.make(settings).pipe(
      Effect.provideService(Provider.Provider, ManagerMetrics.meteredProvider(simulation.provider)),
      Effect.provideService(LeaderGate.LeaderGate, gate),
      Effect.provideService(Fence.Fence, Fence.make(settings.leaderLockKey)),
      Effect.provideService(Notifier.Notifier, ManagerMetrics.meteredNotifier(notifier))
    )
    yield* ManagerMetrics.track(manager.status)
    // Simulated agents report health for every running simulated instance, as real agents would
    // through POST /v1/instances/:id/health.
    const agents = yield* SimulatedAgents.make({
      controls: simulation.controls,
      interval: "5 seconds",
      report: manager.reportHealth
    })
    return { manager, gate, cloud: simulation.controls, agents }
  })
