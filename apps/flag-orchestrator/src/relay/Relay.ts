/**
 * The flag relay: a data system against an upstream FDv2 server, persisted to a cache file and
 * served to local consumers.
 *
 * ```text
 *   upstream (FDv2) ──sources──▶ DataSystem ──store──▶ FlagsApi  GET /flags, /flags/:key, /flags/stream
 *                                    ▲   │                    PUT /mode, PUT /signals ──▶ ModeSignals ──▶ switchMode
 *             cache file (at start) ─┘   └──every applied change set──▶ cache file
 *                                        └──status──▶ StatusServer  /status /metrics /healthz /readyz
 * ```
 *
 * `run` is what `converge-flags relay` calls; `layer` is the same relay as a Layer for tests and
 * the playground (with any `SourceFactory`).
 */
import { createServer } from "node:http"
import { Status } from "@converge/core"
import { StatusServer } from "@converge/http"
import type { FileSystem } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeFileSystem, NodeHttpClient, NodeHttpServer, NodePath } from "@effect/platform-node"
import { type ConfigError, Context, Duration, Effect, Layer, Option, Stream } from "effect"
import * as ConnectionMode from "../ConnectionMode.js"
import * as DataSystem from "../DataSystem.js"
import * as ModeSignals from "../ModeSignals.js"
import * as Store from "../Store.js"
import * as FlagsApi from "./FlagsApi.js"
import * as RelayConfig from "./RelayConfig.js"
import { RelayStatus } from "./RelayStatus.js"
import * as UpstreamSources from "./UpstreamSources.js"

/** A running relay: where its two servers listen, and its data system and mode signals. */
export class Relay extends Context.Tag("@converge/flag-orchestrator/Relay")<
  Relay,
  {
    /** The flags API base URL, e.g. `http://127.0.0.1:8040`. */
    readonly url: string
    /** The status server's base URL (`/status`, `/metrics`, `/healthz`, `/readyz`). */
    readonly statusUrl: string
    readonly dataSystem: DataSystem.DataSystem
    readonly signals: ModeSignals.ModeSignals
  }
>() {}

/** What `layer` needs: the config, the upstream, the sources and how to persist the store. */
export interface Settings {
  readonly config: RelayConfig.RelayConfig
  readonly upstream: string
  readonly factory: ConnectionMode.SourceFactory
  /** Writes the store after every applied change set (the cache file). */
  readonly persist: (store: Store.Store) => Effect.Effect<void>
}

const statusOf = (upstream: string, dataSystem: DataSystem.DataSystem): Effect.Effect<RelayStatus> =>
  Effect.gen(function* () {
    const store = yield* dataSystem.store
    const mode = yield* dataSystem.mode
    return new RelayStatus({
      upstream,
      data: yield* dataSystem.status.get,
      initialized: yield* dataSystem.isInitialized,
      mode: mode.mode,
      offlineDetail: Option.getOrNull(mode.offlineDetail),
      dataFrom: Option.getOrNull(Option.map(yield* dataSystem.lastOrigin, (origin) => origin.name)),
      selector: { state: store.selector.state, version: store.selector.version },
      flags: Store.all(store, "flag").size
    })
  })

/** The relay as a Layer: both servers bound, the data system running, until the layer is released. */
export const layer = (settings: Settings): Layer.Layer<Relay, ServeError | ConfigError.ConfigError> =>
  Layer.scoped(
    Relay,
    Effect.gen(function* () {
      const { config } = settings
      const modeOptions = { foregroundMode: config.mode, runInBackground: config.runInBackground }
      const dataSystem = yield* DataSystem.make({
        sources: ConnectionMode.sourcesFor(RelayConfig.modeTable(config), settings.factory),
        initialMode: ModeSignals.initialResolution(modeOptions),
        orchestrator: RelayConfig.orchestratorOptions(config)
      })
      const signals = yield* ModeSignals.make({
        ...modeOptions,
        window: Duration.millis(config.debounceWindowMs),
        apply: dataSystem.switchMode,
        onNetworkAvailable: dataSystem.setNetworkAvailable
      })

      const status = yield* Status.make(RelayStatus, yield* statusOf(settings.upstream, dataSystem))
      yield* Stream.mergeAll(
        [
          Stream.map(dataSystem.status.changes, () => undefined),
          Stream.map(dataSystem.storeChanges, () => undefined),
          Stream.map(dataSystem.modeChanges, () => undefined)
        ],
        { concurrency: "unbounded" }
      ).pipe(
        // A burst of changes recomputes the status once it is free again, never once per queued change.
        Stream.buffer({ capacity: 1, strategy: "sliding" }),
        Stream.runForEach(() => Effect.flatMap(statusOf(settings.upstream, dataSystem), status.set)),
        Effect.forkScoped
      )
      yield* dataSystem.storeChanges.pipe(
        Stream.drop(1),
        // Each write holds the latest store (every change applied so far); changes applied while a
        // write is in flight are written together by the next one, so a burst never queues snapshots.
        Stream.buffer({ capacity: 1, strategy: "sliding" }),
        Stream.runForEach(settings.persist),
        Effect.forkScoped
      )

      const nodeServer = createServer()
      const server = yield* NodeHttpServer.make(() => nodeServer, {
        host: config.host,
        port: config.port
      })
      // Open `/flags/stream` responses never end by themselves: close them first so shutdown does not wait on them.
      yield* Effect.addFinalizer(() => Effect.sync(() => nodeServer.closeAllConnections()))
      yield* server.serve(FlagsApi.router(dataSystem, signals))
      const address = server.address
      const url =
        address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : `unix:${address.path}`
      const statusServer = Context.get(
        yield* Layer.build(
          StatusServer.layer({
            host: config.host,
            port: config.statusPort,
            status,
            ready: dataSystem.isInitialized
          })
        ),
        StatusServer.StatusServer
      )
      yield* Effect.logInfo(`Flag relay listening on ${url} (upstream ${settings.upstream})`)
      return { url, statusUrl: statusServer.url, dataSystem, signals }
    })
  )

/** What `converge-flags relay` passes; each given field overrides the config file. */
export interface RunOptions {
  /** The upstream FDv2 server's base URL; overrides the file's `upstream`. */
  readonly upstream?: string | undefined
  /** A YAML or JSON config file (see `RelayConfig`). */
  readonly configFile?: string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly statusPort?: number | undefined
  readonly cacheFile?: string | undefined
}

/** The config `options` ask for: the file (if any) with the command line on top, and the upstream. */
export const resolveConfig = (
  options: RunOptions
): Effect.Effect<
  { readonly config: RelayConfig.RelayConfig; readonly upstream: string },
  RelayConfig.RelayConfigError,
  FileSystem.FileSystem
> =>
  Effect.gen(function* () {
    const file =
      options.configFile === undefined ? RelayConfig.defaults : yield* RelayConfig.load(options.configFile)
    const config: RelayConfig.RelayConfig = {
      ...file,
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(options.port === undefined ? {} : { port: options.port }),
      ...(options.statusPort === undefined ? {} : { statusPort: options.statusPort }),
      ...(options.cacheFile === undefined ? {} : { cacheFile: options.cacheFile })
    }
    const upstream = options.upstream ?? file.upstream
    if (upstream === undefined || !URL.canParse(upstream)) {
      return yield* new RelayConfig.RelayConfigError({
        path: options.configFile ?? "(command line)",
        message:
          upstream === undefined
            ? "No upstream: pass --upstream URL (e.g. http://127.0.0.1:8030) or set `upstream` in the config file."
            : `The upstream ${JSON.stringify(upstream)} is not an absolute URL such as http://127.0.0.1:8030.`
      })
    }
    return { config, upstream }
  })

/** The relay over real HTTP and the real file system, as a Layer. */
export const layerFromOptions = (
  options: RunOptions
): Layer.Layer<Relay, RelayConfig.RelayConfigError | ServeError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const { config, upstream } = yield* resolveConfig(options)
      const sources = yield* UpstreamSources.make({ upstream, cacheFile: config.cacheFile })
      return layer({ config, upstream, factory: sources.factory, persist: sources.persist })
    })
  ).pipe(Layer.provide(Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeHttpClient.layer)))

/** Runs the relay until interrupted (what `converge-flags relay` calls). */
export const run = (
  options: RunOptions
): Effect.Effect<never, RelayConfig.RelayConfigError | ServeError | ConfigError.ConfigError> =>
  Layer.launch(layerFromOptions(options))
