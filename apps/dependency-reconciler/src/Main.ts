/**
 * `converge-deps run` composed: the database (yours or an embedded one), the engine (migrations,
 * push dispatcher, sweeper) and the two HTTP servers, until interrupted.
 *
 * ```text
 *   DATABASE_URL ─or─ EmbeddedPostgres ─▶ PgClient ─▶ Engine.run ─▶ EngineStatus ─▶ status server
 *                                                   └▶ API server (ApiHandlers)
 * ```
 */
import { StatusServer } from "@converge/http"
import { EmbeddedPostgres, PgDatabase } from "@converge/pg"
import { Console, Context, Data, Duration, Effect, Layer, Redacted } from "effect"
import * as Engine from "./Engine.js"
import * as Server from "./Server.js"

/** How `run` runs; see `converge-deps run --help`. */
export interface Options {
  readonly host: string
  /** API port; 0 picks a free one. */
  readonly port: number
  /** Status server port; 0 picks a free one. */
  readonly statusPort: number
  /** Your database; without it an embedded Postgres runs for the life of the process. */
  readonly databaseUrl: Redacted.Redacted | undefined
  readonly push: boolean
  readonly sweepIntervalMs: number
  readonly staleThresholdMs: number
  readonly namespace: string | undefined
  readonly instanceTag: string | undefined
}

/** The embedded server's database name. */
export const embeddedDatabase = "converge_deps"

const database = (url: Redacted.Redacted | undefined) =>
  url === undefined
    ? Effect.gen(function* () {
        const server = yield* EmbeddedPostgres.make()
        yield* server.createDatabase(embeddedDatabase).pipe(Effect.orDie)
        const embeddedUrl = server.databaseUrl(embeddedDatabase)
        return {
          layer: PgDatabase.layer({ url: Redacted.make(embeddedUrl), applicationName: "converge-deps" }),
          label: `embedded Postgres (temporary; use it from the CLI with DATABASE_URL=${embeddedUrl})`
        }
      })
    : Effect.succeed({
        layer: PgDatabase.layer({ url, applicationName: "converge-deps" }),
        label: "your database (--database-url / DATABASE_URL)"
      })

/** The engine could not start: no database, failed migrations, a port already taken… */
export class StartFailed extends Data.TaggedError("StartFailed")<{ readonly message: string }> {}

const startFailed = (what: string) => (error: { readonly message: string }) =>
  new StartFailed({ message: `${what}: ${error.message}` })

/** Runs the engine and its servers until interrupted (Ctrl-C); fails only while starting. */
export const run = (options: Options): Effect.Effect<never, StartFailed> =>
  Effect.gen(function* () {
    const { label, layer } = yield* database(options.databaseUrl).pipe(
      Effect.mapError(startFailed("Could not start the embedded Postgres"))
    )
    const context = yield* Layer.build(layer).pipe(
      Effect.mapError(startFailed("Could not connect to Postgres"))
    )
    return yield* Effect.gen(function* () {
      const engine = yield* Engine.run({
        push: options.push,
        sweepInterval: Duration.millis(options.sweepIntervalMs),
        staleThresholdMs: options.staleThresholdMs,
        namespace: options.namespace,
        instanceTag: options.instanceTag
      }).pipe(Effect.mapError(startFailed("Could not migrate the database")))
      const servers = yield* Layer.build(
        Server.layer({
          host: options.host,
          port: options.port,
          statusPort: options.statusPort,
          status: engine.status,
          ready: Effect.map(engine.status.get, (status) => status.dispatcher !== "connecting")
        })
      ).pipe(Effect.mapError(startFailed("Could not start the HTTP servers")))
      const api = Context.get(servers, Server.ApiServer)
      const status = Context.get(servers, StatusServer.StatusServer)
      yield* Console.log(
        [
          "",
          "converge-deps is running:",
          `  api      ${api.url} (OpenAPI: ${api.url}${Server.openApiPath})`,
          `  status   ${status.url}/status`,
          `  metrics  ${status.url}/metrics`,
          `  ready    ${status.url}/readyz`,
          `  push     ${options.push ? "LISTEN/NOTIFY" : "off (sweeper only)"}`,
          `  data     ${label}`,
          "Press Ctrl-C to stop.",
          ""
        ].join("\n")
      )
      return yield* Effect.never
    }).pipe(Effect.provide(context))
  }).pipe(Effect.scoped)
