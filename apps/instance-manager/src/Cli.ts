/**
 * The `converge-instances` command line (`@effect/cli`): `run`, `validate-config`, `groups list`,
 * `groups set`, `instances list`, `drain-ack` and `agent` (the sample instance agent), each with
 * `--help`. `groups set` and `drain-ack` go through a running manager's API (`--api-url`); the
 * listings read the database (`--database-url` / `DATABASE_URL`). Bad input is a message on
 * stderr and exit code 1.
 */
import { PgDatabase } from "@converge/pg"
import { Args, Command, Options } from "@effect/cli"
import { FetchHttpClient, HttpApiClient } from "@effect/platform"
import type { SqlClient } from "@effect/sql"
import { Config, Console, Data, Effect, Layer, type Redacted } from "effect"
import * as AgentCommand from "./agent/AgentCommand.js"
import * as ManagerConfig from "./config/ManagerConfig.js"
import * as Api from "./http/Api.js"
import * as Main from "./Main.js"
import * as GroupStore from "./state/GroupStore.js"
import * as InstanceStore from "./state/InstanceStore.js"

/** A command could not do what it was asked; `message` says what and how to fix it. */
export class CommandFailed extends Data.TaggedError("CommandFailed")<{ readonly message: string }> {}

const failWith = (error: { readonly message: string }): CommandFailed =>
  new CommandFailed({ message: error.message })

const configFile = Options.file("config", { exists: "yes" }).pipe(
  Options.withAlias("c"),
  Options.withFallbackConfig(Config.string("CONVERGE_INSTANCES_CONFIG")),
  Options.withDescription(
    "The YAML config file: groups, provider, rate limits, retry policies (default: CONVERGE_INSTANCES_CONFIG)"
  )
)

const databaseUrl = Options.redacted("database-url").pipe(
  Options.withFallbackConfig(Config.redacted("DATABASE_URL")),
  Options.withDescription("Postgres URL of the manager's database (default: the DATABASE_URL variable)")
)

const apiUrl = Options.text("api-url").pipe(
  Options.withFallbackConfig(Config.string("CONVERGE_INSTANCES_API")),
  Options.withDefault("http://127.0.0.1:8080"),
  Options.withDescription(
    "Base URL of a running manager's API (default: CONVERGE_INSTANCES_API, else http://127.0.0.1:8080)"
  )
)

/** `run --port`: the API port (default `CONVERGE_INSTANCES_PORT`, else 8080; 0 picks a free one). */
export const apiPort = Options.integer("port").pipe(
  Options.withFallbackConfig(Config.integer("CONVERGE_INSTANCES_PORT")),
  Options.withDefault(8080),
  Options.withDescription("API port (default: CONVERGE_INSTANCES_PORT, else 8080; 0 picks a free one)")
)

/** `run --status-port`: the status server's port (default `CONVERGE_HTTP_PORT`, else a free one). */
export const statusPort = Options.integer("status-port").pipe(
  Options.withFallbackConfig(Config.integer("CONVERGE_HTTP_PORT")),
  Options.withDefault(0),
  Options.withDescription(
    "Status server port for /status, /metrics, /healthz, /readyz (default: CONVERGE_HTTP_PORT, else 0: a free one)"
  )
)

const tenant = Options.text("tenant").pipe(
  Options.withDefault("default"),
  Options.withDescription("The group's tenant")
)

const printJson = (value: unknown) => Console.log(JSON.stringify(value, null, 2))

const withDatabase = <A, E>(url: Redacted.Redacted, effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  effect.pipe(
    Effect.provide(
      PgDatabase.layer({ url, poolSize: 2, applicationName: "converge-instances-cli" }).pipe(
        Layer.mapError(failWith)
      )
    )
  )

const run = Command.make(
  "run",
  {
    configFile,
    host: Options.text("host").pipe(
      Options.withDefault("127.0.0.1"),
      Options.withDescription("Interface to bind both servers to")
    ),
    port: apiPort,
    statusPort
  },
  (options) => Main.run(options).pipe(Effect.mapError(failWith))
).pipe(
  Command.withDescription("Runs the manager: keeps every configured group at its desired size while leader")
)

const validateConfig = Command.make("validate-config", { configFile }, (options) =>
  ManagerConfig.load(options.configFile).pipe(
    Effect.mapError(failWith),
    Effect.flatMap((config) =>
      Console.log(
        `${options.configFile} is valid: ${config.groups.length} group(s), provider "${config.provider.type}", create rate limit ${config.createRateLimit.burst} burst / ${config.createRateLimit.perSecond} per s`
      )
    )
  )
).pipe(Command.withDescription("Checks a config file and says what is wrong, where, and how to fix it"))

const groupsList = Command.make("list", { databaseUrl }, (options) =>
  withDatabase(
    options.databaseUrl,
    Effect.map(GroupStore.list, (groups) =>
      groups.map((group) => ({
        tenant: group.tenant,
        key: group.key,
        desiredSize: group.desiredSize,
        deleted: group.deletedAt !== null,
        templateHash: group.templateHash
      }))
    ).pipe(Effect.mapError(failWith))
  ).pipe(Effect.flatMap(printJson))
).pipe(Command.withDescription("Lists the groups in the database"))

const groupsSet = Command.make(
  "set",
  {
    key: Args.text({ name: "key" }).pipe(Args.withDescription("The group's key")),
    size: Args.integer({ name: "desired-size" }).pipe(
      Args.withDescription("The new desired size (0 or more)")
    ),
    tenant,
    apiUrl
  },
  (options) =>
    Effect.gen(function* () {
      const client = yield* HttpApiClient.make(Api.InstancesApi, { baseUrl: options.apiUrl })
      const view = yield* client.groups.setDesired({
        path: { key: options.key },
        urlParams: { tenant: options.tenant },
        payload: { desiredSize: options.size }
      })
      yield* printJson(view)
    }).pipe(
      Effect.provide(FetchHttpClient.layer),
      Effect.mapError((error) => new CommandFailed({ message: `${options.apiUrl}: ${error.message}` }))
    )
).pipe(Command.withDescription("Sets a group's desired size through a running manager's API"))

/** `converge-instances groups list | set`. */
export const groups = Command.make("groups").pipe(
  Command.withSubcommands([groupsList, groupsSet]),
  Command.withDescription("Lists groups and sets their desired size")
)

const instancesList = Command.make(
  "list",
  {
    databaseUrl,
    limit: Options.integer("limit").pipe(
      Options.withDefault(100),
      Options.withDescription("At most this many, newest first")
    )
  },
  (options) =>
    withDatabase(
      options.databaseUrl,
      InstanceStore.listAll(options.limit).pipe(Effect.mapError(failWith))
    ).pipe(Effect.flatMap(printJson))
).pipe(Command.withDescription("Lists instances (deleted ones included), newest first"))

/** `converge-instances instances list`. */
export const instances = Command.make("instances").pipe(
  Command.withSubcommands([instancesList]),
  Command.withDescription("Lists instances")
)

const drainAck = Command.make(
  "drain-ack",
  {
    instanceId: Args.text({ name: "instance-id" }).pipe(Args.withDescription("The draining instance")),
    apiUrl
  },
  (options) =>
    Effect.gen(function* () {
      const client = yield* HttpApiClient.make(Api.InstancesApi, { baseUrl: options.apiUrl })
      yield* client.instances.drainAck({ path: { instanceId: options.instanceId } })
      yield* Console.log(`Drain of ${options.instanceId} acknowledged: it is deleted on the next pass.`)
    }).pipe(
      Effect.provide(FetchHttpClient.layer),
      Effect.mapError((error) => new CommandFailed({ message: `${options.apiUrl}: ${error.message}` }))
    )
).pipe(Command.withDescription("Acknowledges a drain through a running manager's API (idempotent)"))

/** The whole command line. */
export const command = Command.make("converge-instances").pipe(
  Command.withSubcommands([run, validateConfig, groups, instances, drainAck, AgentCommand.command]),
  Command.withDescription(
    "Keeps instance groups at their desired size: health, drains, expiry, drift, leader-only"
  )
)

/** Parses `argv` and runs the command. */
export const cli = Command.run(command, { name: "converge-instances", version: "0.0.0" })
