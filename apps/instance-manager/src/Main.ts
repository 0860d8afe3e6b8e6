/**
 * `converge-instances run` composed: the config file, the database (`DATABASE_URL` or an
 * embedded Postgres), migrations, the provider, the Postgres leader gate, the manager, the API
 * server and the status server (`/status`, `/metrics`, `/healthz`, `/readyz`), until interrupted.
 * The provider and the notifier are metered and the status followed (`ManagerMetrics`).
 *
 * ```text
 *   config.yaml ─▶ ManagerConfig ─┐
 *   DATABASE_URL ─or─ embedded ─▶ PgClient ─▶ migrations ─▶ PgLeaderGate + Fence
 *   provider (simulated + its agents | process) ───────────────┴─▶ InstanceManager ─▶ API + status servers
 * ```
 */
import { LeaderGate } from "@converge/core"
import { StatusServer } from "@converge/http"
import { PgDatabase, PgLeaderGate } from "@converge/pg"
import { Console, Context, Data, Deferred, Duration, Effect, Layer, Stream, SubscriptionRef } from "effect"
import * as ManagerConfig from "./config/ManagerConfig.js"
import * as ApiServer from "./http/ApiServer.js"
import * as InstanceManager from "./InstanceManager.js"
import * as ManagerMetrics from "./ManagerMetrics.js"
import * as ProcessProvider from "./provider/ProcessProvider.js"
import { Provider } from "./provider/Provider.js"
import * as SimulatedAgents from "./provider/SimulatedAgents.js"
import * as SimulatedProvider from "./provider/SimulatedProvider.js"
import * as Notifier from "./reconciler/Notifier.js"
import * as Fence from "./state/Fence.js"
import * as StateSchema from "./state/Schema.js"

/** How `run` runs; see `converge-instances run --help`. */
export interface Options {
  readonly configFile: string
  readonly host: string
  /** API port; 0 picks a free one. */
  readonly port: number
  /** Status server port; 0 picks a free one. */
  readonly statusPort: number
}

/** The manager could not start: a bad config, no database, a port already taken… */
export class StartFailed extends Data.TaggedError("StartFailed")<{ readonly message: string }> {}

const startFailed = (what: string) => (error: { readonly message: string }) =>
  new StartFailed({ message: `${what}: ${error.message}` })

/** Runs the manager and its servers until interrupted (Ctrl-C); fails only while starting. */
export const run = (options: Options): Effect.Effect<never, StartFailed> =>
  Effect.gen(function* () {
    const config = yield* ManagerConfig.load(options.configFile).pipe(
      Effect.mapError((error) => new StartFailed({ message: error.message }))
    )
    const provider = config.provider
    const database = yield* Layer.build(
      PgDatabase.layerFromEnvOrEmbedded({ database: "converge_instances" })
    ).pipe(Effect.mapError(startFailed("Could not reach Postgres")))
    return yield* Effect.gen(function* () {
      yield* StateSchema.migrate.pipe(Effect.mapError(startFailed("Could not migrate the database")))
      // The process provider's agents report to the API, whose URL is known once it binds.
      const apiUrl = yield* Deferred.make<string>()
      const simulation = provider.type === "simulated" ? yield* SimulatedProvider.make(provider) : undefined
      const processes =
        provider.type === "process"
          ? yield* ProcessProvider.make(provider, Deferred.await(apiUrl))
          : undefined
      const chosen = simulation?.provider ?? processes?.provider
      if (chosen === undefined) return yield* new StartFailed({ message: "No provider configured" })
      const gate = yield* PgLeaderGate.makeFromClient({
        lockKey: config.leaderLockKey,
        checkInterval: config.leaderCheckInterval,
        name: "instance-manager"
      }).pipe(Effect.mapError(startFailed("Invalid leaderLockKey")))
      const manager = yield* InstanceManager.make(config).pipe(
        Effect.provideService(Provider, ManagerMetrics.meteredProvider(chosen)),
        Effect.provideService(LeaderGate.LeaderGate, gate),
        Effect.provideService(Fence.Fence, Fence.make(config.leaderLockKey)),
        Effect.provideService(
          Notifier.Notifier,
          ManagerMetrics.meteredNotifier(
            processes === undefined
              ? Notifier.logging
              : Notifier.both(Notifier.logging, processes.drainNotifier)
          )
        ),
        Effect.mapError(startFailed("Could not start the manager"))
      )
      yield* ManagerMetrics.track(manager.status)
      const shortestInterval = Math.min(
        60_000,
        ...config.groups.map((group) => Duration.toMillis(group.healthInterval))
      )
      if (processes !== undefined) {
        // A process that ended on its own is checked at once, not at its next health tick.
        yield* Effect.forkScoped(
          Stream.runForEach(yield* processes.exits, (ended) =>
            manager
              .reportDisconnect(ended.instanceId)
              .pipe(
                Effect.catchAll((error) => Effect.logDebug(`exit of ${ended.instanceId}: ${error.message}`))
              )
          )
        )
      }
      if (simulation !== undefined) {
        yield* SimulatedAgents.make({
          controls: simulation.controls,
          interval: Duration.millis(Math.max(100, shortestInterval / 2)),
          report: manager.reportHealth
        })
      }
      const servers = yield* Layer.build(
        Layer.merge(
          ApiServer.layer(manager, { host: options.host, port: options.port }),
          StatusServer.layer({
            host: options.host,
            port: options.statusPort,
            status: manager.status,
            ready: Effect.succeed(true)
          })
        )
      ).pipe(Effect.mapError(startFailed("Could not start the HTTP servers")))
      const api = Context.get(servers, ApiServer.ApiServer)
      const status = Context.get(servers, StatusServer.StatusServer)
      yield* Deferred.succeed(apiUrl, api.url)
      const leading = yield* SubscriptionRef.get(gate.isLeader)
      yield* Console.log(
        [
          "",
          processes === undefined
            ? "converge-instances is running (simulated provider: an in-memory cloud, not real infrastructure):"
            : `converge-instances is running (process provider: local processes, state in ${processes.stateDir}):`,
          `  api      ${api.url}/v1/groups/<key>`,
          `  status   ${status.url}/status`,
          `  metrics  ${status.url}/metrics`,
          `  groups   ${config.groups.map((group) => `${group.tenant}/${group.key}=${group.desiredSize}`).join(", ") || "(none)"}`,
          `  leader   ${leading ? "yes" : "waiting for the lock"}`,
          "Press Ctrl-C to stop.",
          ""
        ].join("\n")
      )
      return yield* Effect.never
    }).pipe(Effect.provide(database))
  }).pipe(Effect.scoped)
