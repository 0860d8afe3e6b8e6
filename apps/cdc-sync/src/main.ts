/**
 * The composition root of `converge-cdc run`: reads the configuration, builds the sinks it names
 * (each `postgres` and `webhook` sink on a pool of its own), folds events into the `/status` handle, serves
 * `/status`, `/metrics`, `/healthz` and `/readyz` (ready once live), serves `POST /reindex` on
 * the admin bind, and runs the daemon.
 */
import { Observer, Status } from "@converge/core"
import { StatusServer } from "@converge/http"
import { PgDatabase } from "@converge/pg"
import { NodeHttpClient } from "@effect/platform-node"
import { Data, Duration, Effect, Layer, type Scope } from "effect"
import * as AdminServer from "./admin/AdminServer.js"
import type { CdcConfig } from "./config/CdcConfig.js"
import * as ConfigFile from "./config/ConfigFile.js"
import * as Daemon from "./Daemon.js"
import { CdcEvent } from "./observe/CdcEvent.js"
import * as CdcMetrics from "./observe/CdcMetrics.js"
import * as CdcStatus from "./observe/CdcStatus.js"
import * as Reindexer from "./reindex/Reindexer.js"
import * as OpenSearchSink from "./sinks/OpenSearchSink.js"
import * as PostgresSink from "./sinks/PostgresSink.js"
import type { Sink } from "./sinks/Sink.js"
import * as StdoutSink from "./sinks/StdoutSink.js"
import * as WebhookSink from "./sinks/WebhookSink.js"

/** Neither `source.url` nor `DATABASE_URL` says where the source database is. */
export class SourceUrlMissing extends Data.TaggedError("SourceUrlMissing")<{ readonly file: string }> {
  override get message(): string {
    return `${this.file}: no source database: set source.url in the file or the DATABASE_URL environment variable`
  }
}

/** Options of `converge-cdc run`. */
export interface RunOptions {
  readonly configFile: string
  readonly skipBackfill: boolean
  /** Overrides the port of `server.bind` (0: any free port). */
  readonly port: number | undefined
  /** Overrides the port of `server.admin_bind` (0: any free port). */
  readonly adminPort?: number | undefined
}

/** The source URL of a loaded configuration. */
export const sourceUrl = (file: string, config: CdcConfig): Effect.Effect<string, SourceUrlMissing> =>
  config.source.url === undefined
    ? Effect.fail(new SourceUrlMissing({ file }))
    : Effect.succeed(config.source.url)

/** Builds the configured sinks. */
export const sinksOf = (config: CdcConfig, url: string) =>
  Effect.forEach(
    Object.entries(config.sinks),
    ([name, sink]): Effect.Effect<Sink, PgDatabase.ConnectError, Scope.Scope> => {
      if (sink.type === "stdout") return StdoutSink.make({ name, pretty: sink.pretty })
      if (sink.type === "opensearch") {
        return OpenSearchSink.make({
          name,
          nodes: sink.nodes,
          auth: sink.auth,
          indexPrefix: sink.indexPrefix,
          maxBulkDocuments: sink.maxBulkDocuments,
          maxBulkBytes: sink.maxBulkBytes,
          refreshInterval: sink.refreshInterval,
          gcDeletes: sink.gcDeletes,
          requestTimeoutMillis: sink.requestTimeoutMs
        })
      }
      if (sink.type === "webhook") {
        // Its seeded markers and dead letters live in the source database.
        return Effect.flatMap(
          Layer.build(
            Layer.merge(
              PgDatabase.layer({ url, applicationName: `converge-cdc-sink-${name}` }),
              NodeHttpClient.layerUndici
            )
          ),
          (context) =>
            WebhookSink.make({
              name,
              url: sink.url,
              headers: sink.headers,
              timeout: Duration.millis(sink.timeoutMs),
              maxBatch: sink.maxBatch,
              attempts: sink.attempts,
              retryDelay: Duration.millis(sink.retryDelayMs),
              stateSchema: sink.stateSchema
            }).pipe(Effect.provide(context))
        )
      }
      return Effect.flatMap(
        Layer.build(PgDatabase.layer({ url: sink.url ?? url, applicationName: `converge-cdc-sink-${name}` })),
        (context) =>
          PostgresSink.make({ name, schema: sink.schema, textSearchConfig: sink.textSearchConfig }).pipe(
            Effect.provide(context)
          )
      )
    }
  )

/** `converge-cdc run`. */
export const run = (options: RunOptions) =>
  Effect.gen(function* () {
    const config = yield* ConfigFile.load(options.configFile)
    const url = yield* sourceUrl(options.configFile, config)
    const status = yield* Status.make(
      CdcStatus.CdcStatus,
      CdcStatus.initial(
        new Date(),
        config.indexes.map((index) => index.name)
      )
    )
    const toStatus = Observer.statusObserver(status, CdcStatus.reduce)
    const toLog = Observer.logObserver<CdcEvent>()
    const observer = Observer.make((event: CdcEvent) =>
      Effect.all([toStatus.notify(event), CdcMetrics.observer.notify(event), toLog.notify(event)], {
        discard: true
      })
    )
    const [host = "127.0.0.1", port = "9464"] = config.server.bind.split(":")
    yield* Layer.build(
      StatusServer.layer({
        host,
        port: options.port ?? Number(port),
        status,
        ready: Effect.map(status.get, (current) => current.phase === "live")
      })
    )
    const sinks = yield* sinksOf(config, url)
    const source = yield* Layer.build(PgDatabase.layer({ url, applicationName: "converge-cdc" }))
    // Reindexes run beside live capture, on the same sinks (which then write both generations).
    const reindexer = yield* Reindexer.make(config, sinks, observer).pipe(Effect.provide(source))
    const [adminHost = "127.0.0.1", adminPort = "9465"] = config.server.adminBind.split(":")
    // The sync does not depend on the admin server: a taken admin port is reported, not fatal.
    yield* Layer.build(
      AdminServer.layer({ host: adminHost, port: options.adminPort ?? Number(adminPort), reindexer })
    ).pipe(
      Effect.catchAll((error) =>
        observer.notify(
          CdcEvent.ErrorOccurred({
            message: `admin server: cannot listen on ${adminHost}:${options.adminPort ?? adminPort} (${String(error.cause)}); POST /reindex is unavailable: set server.admin_bind to a free address or pass --admin-port`,
            retrying: false
          })
        )
      )
    )
    // A reindex a crash or stop interrupted starts again once live.
    const resumeReindex = (index: string) =>
      reindexer.start(index).pipe(
        Effect.catchAll((error) =>
          observer.notify(
            CdcEvent.ErrorOccurred({
              message: `reindex of "${index}" interrupted earlier, not started again: ${error.message}`,
              retrying: false
            })
          )
        )
      )
    return yield* Daemon.run(config, {
      url,
      sinks,
      observer,
      skipBackfill: options.skipBackfill,
      resumeReindex
    }).pipe(Effect.provide(source))
  })
