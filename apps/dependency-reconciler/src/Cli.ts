/**
 * The `converge-deps` command line (`@effect/cli`): `run`, `migrate`, `flow create`, `flow get`,
 * `complete`, `cancel` and `sweep --once`, each with `--help`. One-shot commands talk to the
 * database directly (`--database-url` / `DATABASE_URL`) and print their result as JSON; bad
 * input is a message on stderr and exit code 1.
 */
import { Tracing } from "@converge/http"
import { PgDatabase } from "@converge/pg"
import { Args, Command, Options } from "@effect/cli"
import { FileSystem } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { Config, Console, Data, Effect, Layer, Option, ParseResult, type Redacted, Schema } from "effect"
import * as Api from "./Api.js"
import * as ApiHandlers from "./ApiHandlers.js"
import * as Main from "./Main.js"
import * as DepsSchema from "./Schema.js"
import * as StaleSweeper from "./StaleSweeper.js"

/** A one-shot command could not do what it was asked; `message` says what and how to fix it. */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{ readonly message: string }> {}

const databaseUrl = Options.redacted("database-url").pipe(
  Options.withFallbackConfig(Config.redacted("DATABASE_URL")),
  Options.withDescription("Postgres URL of the engine's database (default: the DATABASE_URL variable)")
)

const optionalDatabaseUrl = databaseUrl.pipe(
  Options.optional,
  Options.withDescription(
    "Postgres URL of the engine's database (default: DATABASE_URL; without either, an embedded Postgres)"
  )
)

const namespace = Options.text("namespace").pipe(
  Options.optional,
  Options.withDescription("Only sweep events of this namespace (default: every namespace)")
)
const instanceTag = Options.text("instance-tag").pipe(
  Options.optional,
  Options.withDescription("Only sweep events of this instance tag (default: every tag)")
)
const staleThresholdMs = Options.integer("stale-threshold-ms").pipe(
  Options.withSchema(Schema.NonNegative.annotations({ message: () => "must be 0 or more" })),
  Options.withDefault(1000),
  Options.withDescription("The sweeper only dispatches pending events older than this many milliseconds")
)

const withDatabase = <A, E>(
  url: Redacted.Redacted,
  effect: Effect.Effect<A, E, SqlClient.SqlClient>
): Effect.Effect<A, E | CommandFailed> =>
  effect.pipe(
    Effect.provide(
      PgDatabase.layer({ url, poolSize: 2, applicationName: "converge-deps-cli" }).pipe(
        Layer.mapError((error) => new CommandFailed({ message: error.message }))
      )
    )
  )

const failWith = (error: { readonly message: string }): CommandFailed =>
  new CommandFailed({ message: error.message })

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const idArg = (name: string, description: string) =>
  Args.text({ name }).pipe(Args.withSchema(Api.Id), Args.withDescription(description))

/** `converge-deps migrate`: applies the engine's pending migrations. */
export const migrate = Command.make("migrate", { databaseUrl }, (options) =>
  withDatabase(
    options.databaseUrl,
    DepsSchema.migrate.pipe(
      Effect.mapError(failWith),
      Effect.flatMap((applied) =>
        Console.log(
          applied.length === 0
            ? "The database is up to date."
            : `Applied ${applied.map((migration) => `${migration.id}_${migration.name}`).join(", ")}`
        )
      )
    )
  )
).pipe(
  Command.withDescription("Creates or updates the engine's tables (safe to run from several places at once)")
)

const flowFile = Options.file("file", { exists: "yes" }).pipe(
  Options.withAlias("f"),
  Options.withDescription("The flow spec, a JSON file: { namespace?, instanceTag?, executions, edges }")
)

/**
 * Reads and decodes a JSON flow spec file; a failure names the file, the path inside it and what
 * was expected.
 */
export const readFlowSpec = (file: string) =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const text = yield* fs
      .readFileString(file)
      .pipe(
        Effect.mapError((error) => new CommandFailed({ message: `Could not read ${file}: ${error.message}` }))
      )
    const content = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (error) =>
        new CommandFailed({
          message: `${file} is not JSON (${error instanceof Error ? error.message : String(error)})`
        })
    })
    return yield* Schema.decodeUnknown(Api.FlowSpec, { errors: "all", onExcessProperty: "error" })(
      content
    ).pipe(
      Effect.mapError(
        (error) =>
          new CommandFailed({
            message: [
              `${file} is not a valid flow spec:`,
              ...ParseResult.ArrayFormatter.formatErrorSync(error).map(
                (issue) =>
                  `  at ${issue.path.length === 0 ? "the top level" : issue.path.join(".")}: ${issue.message}`
              )
            ].join("\n")
          })
      )
    )
  })

const flowCreate = Command.make("create", { file: flowFile, databaseUrl }, (options) =>
  Effect.gen(function* () {
    const spec = yield* readFlowSpec(options.file)
    const created = yield* withDatabase(
      options.databaseUrl,
      ApiHandlers.createFlow(spec).pipe(Effect.mapError(failWith))
    )
    yield* printJson(created)
  })
).pipe(Command.withDescription("Creates a flow from a JSON spec file and prints its id and execution ids"))

const flowGet = Command.make("get", { flowId: idArg("flow-id", "The flow's id"), databaseUrl }, (options) =>
  withDatabase(options.databaseUrl, ApiHandlers.getFlow(options.flowId).pipe(Effect.mapError(failWith))).pipe(
    Effect.flatMap(printJson)
  )
).pipe(Command.withDescription("Prints a flow: every execution's state and every group's decision"))

/** `converge-deps flow create | get`. */
export const flow = Command.make("flow").pipe(
  Command.withSubcommands([flowCreate, flowGet]),
  Command.withDescription("Creates and inspects flows")
)

/** `converge-deps complete EXECUTION --outcome`: what a worker reports. */
export const complete = Command.make(
  "complete",
  {
    executionId: idArg("execution-id", "The execution's id"),
    outcome: Options.choice("outcome", ["succeeded", "failed", "cancelled"]).pipe(
      Options.withDescription("How the execution ended")
    ),
    databaseUrl
  },
  (options) =>
    withDatabase(
      options.databaseUrl,
      ApiHandlers.completeExecution(options.executionId, options.outcome).pipe(Effect.mapError(failWith))
    ).pipe(Effect.flatMap(printJson))
).pipe(Command.withDescription("Completes a live execution and writes its completion event"))

/** `converge-deps cancel FLOW --mode`. */
export const cancel = Command.make(
  "cancel",
  {
    flowId: idArg("flow-id", "The flow's id"),
    mode: Options.choice("mode", ["cancel_all", "cancel_pending"]).pipe(
      Options.withDefault("cancel_pending" as const),
      Options.withDescription("cancel_all also cancels running executions; cancel_pending spares them")
    ),
    databaseUrl
  },
  (options) =>
    withDatabase(
      options.databaseUrl,
      ApiHandlers.cancelFlow(options.flowId, options.mode).pipe(Effect.mapError(failWith))
    ).pipe(Effect.flatMap(printJson))
).pipe(Command.withDescription("Cancels a flow's live executions, each with its own completion event"))

/** `converge-deps sweep --once`: one sweeper tick, then exit. */
export const sweep = Command.make(
  "sweep",
  {
    once: Options.boolean("once").pipe(Options.withDescription("Run one tick and exit (required for now)")),
    staleThresholdMs,
    namespace,
    instanceTag,
    databaseUrl
  },
  (options) =>
    options.once
      ? withDatabase(
          options.databaseUrl,
          StaleSweeper.runOnce({
            staleThresholdMs: options.staleThresholdMs,
            namespace: Option.getOrUndefined(options.namespace),
            instanceTag: Option.getOrUndefined(options.instanceTag)
          })
        ).pipe(Effect.flatMap(printJson))
      : new CommandFailed({
          message: "sweep runs once with --once; `converge-deps run` sweeps continuously"
        })
).pipe(
  Command.withDescription("Dispatches stale pending completion events once (what the sweeper does each tick)")
)

/** `converge-deps run`: migrations, push dispatcher, sweeper and the API, until Ctrl-C. */
export const run = Command.make(
  "run",
  {
    port: Options.integer("port").pipe(
      Options.withDefault(8080),
      Options.withDescription("Port of the HTTP API (0 picks a free one)")
    ),
    statusPort: Options.integer("status-port").pipe(
      Options.withFallbackConfig(Config.integer("CONVERGE_HTTP_PORT")),
      Options.withDefault(9464),
      Options.withDescription(
        "Port of the status server: /status, /metrics, /healthz, /readyz (default: CONVERGE_HTTP_PORT, else 9464; 0 picks a free one)"
      )
    ),
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("Interface both servers bind (0.0.0.0 accepts remote clients)")
    ),
    databaseUrl: optionalDatabaseUrl,
    noPush: Options.boolean("no-push").pipe(
      Options.withDescription("Do not LISTEN for completion events: only the sweeper dispatches")
    ),
    sweepIntervalMs: Options.integer("sweep-interval").pipe(
      Options.withSchema(Schema.Positive.annotations({ message: () => "must be more than 0" })),
      Options.withDefault(1000),
      Options.withDescription("Milliseconds between sweeper ticks")
    ),
    staleThresholdMs,
    namespace,
    instanceTag
  },
  (options) =>
    Main.run({
      host: options.host,
      port: options.port,
      statusPort: options.statusPort,
      databaseUrl: Option.getOrUndefined(options.databaseUrl),
      push: !options.noPush,
      sweepIntervalMs: options.sweepIntervalMs,
      staleThresholdMs: options.staleThresholdMs,
      namespace: Option.getOrUndefined(options.namespace),
      instanceTag: Option.getOrUndefined(options.instanceTag)
    }).pipe(
      // Spans (API requests, dispatch) go to OTEL_EXPORTER_OTLP_ENDPOINT when it is set.
      Effect.provide(Tracing.layer({ serviceName: "converge-deps" })),
      Effect.mapError(failWith)
    )
).pipe(
  Command.withDescription(
    "Runs the engine: migrations, push dispatcher (LISTEN/NOTIFY), stale-event sweeper, HTTP API and status server"
  )
)

/** The whole `converge-deps` command. */
export const command = Command.make("converge-deps").pipe(
  Command.withSubcommands([run, migrate, flow, complete, cancel, sweep]),
  Command.withDescription("A Postgres-backed DAG dependency engine")
)

/** Parses `argv` and runs the chosen command. */
export const cli = Command.run(command, { name: "converge-deps", version: "0.0.0" })
