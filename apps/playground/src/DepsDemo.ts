/**
 * `converge-playground deps`: the dependency reconciler's engine and HTTP API with its sample
 * workload — flows of four shapes, simulated workers failing some executions on purpose — and a
 * one-line progress summary every few seconds.
 *
 * ```text
 *   SampleWorkload (flows every 5 s, workers) ──▶ deps_* tables ◀── Engine (push dispatcher, sweeper)
 *                                                      │ census every 1 s          │ engine status
 *                                                      ▼                           ▼
 *   API server (Server.apiLayer) · status server ◀── DepsStatus ──every N s──▶ progress line
 * ```
 */
import { Status } from "@converge/core"
import { Engine, SampleWorkload, Server } from "@converge/dependency-reconciler"
import { StatusServer } from "@converge/http"
import type { Migrations } from "@converge/pg"
import type { ServeError } from "@effect/platform/HttpServerError"
import type { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { type ConfigError, Console, Context, type Duration, Effect, Layer, Schedule } from "effect"
import * as DepsCensus from "./DepsCensus.js"
import * as DepsStatus from "./DepsStatus.js"

/** How `deps` runs. */
export interface Options {
  /** API port; 0 picks a free one. */
  readonly port: number
  /** Status server port; 0 picks a free one. */
  readonly statusPort: number
  /** Chance (0–1) that a simulated worker fails an execution on purpose. */
  readonly failureRate: number
  /** How often a progress line is printed. */
  readonly progressEvery: Duration.DurationInput
  /** Where the data lives, as shown in the status (never the password). */
  readonly databaseLabel: string
}

/** Runs the engine, its servers and the sample workload until interrupted (Ctrl-C). */
export const run = (
  options: Options
): Effect.Effect<
  never,
  Migrations.MigrationFailed | ServeError | ConfigError.ConfigError,
  PgClient.PgClient | SqlClient.SqlClient
> =>
  Effect.gen(function* () {
    const engine = yield* Engine.run()
    const status = yield* Status.make(
      DepsStatus.DepsStatus,
      DepsStatus.initial(new Date(), options.databaseLabel, yield* engine.status.get)
    )
    const servers = yield* Layer.build(
      Server.layer({
        port: options.port,
        statusPort: options.statusPort,
        status,
        ready: Effect.map(engine.status.get, (engineStatus) => engineStatus.dispatcher !== "connecting")
      })
    )
    const api = Context.get(servers, Server.ApiServer)
    const statusServer = Context.get(servers, StatusServer.StatusServer)
    yield* Console.log(
      [
        "",
        "Converge playground: the dependency reconciler is running:",
        `  status   ${statusServer.url}/status`,
        `  metrics  ${statusServer.url}/metrics`,
        `  ready    ${statusServer.url}/readyz`,
        `  api      ${api.url} (OpenAPI: ${api.url}${Server.openApiPath})`,
        `  data     ${options.databaseLabel}`,
        `  workload ${SampleWorkload.shapes.length} flows (one per shape) every 5 s; workers fail ${Math.round(options.failureRate * 100)} % of executions`,
        "Press Ctrl-C to stop.",
        ""
      ].join("\n")
    )
    yield* SampleWorkload.start({ failureRate: options.failureRate, namespace: DepsCensus.namespace })
    const takeCensus = Effect.gen(function* () {
      const census = yield* DepsCensus.take
      const engineStatus = yield* engine.status.get
      yield* status.update((current) => DepsStatus.withCensus(current, engineStatus, census))
    }).pipe(Effect.catchAll((error) => Effect.logWarning("deps: census failed", error)))
    yield* Effect.forkScoped(Effect.repeat(takeCensus, Schedule.spaced("1 second")))
    const printProgress = Effect.flatMap(status.get, (current) =>
      Console.log(`deps: ${DepsStatus.progressLine(current)}`)
    )
    yield* Effect.forkScoped(
      Effect.repeat(printProgress, Schedule.spaced(options.progressEvery)).pipe(
        Effect.delay(options.progressEvery)
      )
    )
    return yield* Effect.never
  }).pipe(Effect.scoped)
