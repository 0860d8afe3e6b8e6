#!/usr/bin/env node
/**
 * `converge-cdc`: keeps denormalized documents in sinks in step with a Postgres source.
 *
 * ```text
 *   converge-cdc run -c FILE [--skip-backfill] [--port N] [--admin-port N]
 *   converge-cdc validate-config -c FILE
 *   converge-cdc backfill -c FILE [--index NAME]... [--force]
 *   converge-cdc reindex INDEX -c FILE [--admin URL]
 *   converge-cdc status -c FILE [--url URL] [--json]
 * ```
 */
import { NodeMain } from "@converge/http"
import { PgDatabase } from "@converge/pg"
import { Args, Command, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Console, Effect, FiberRef, HashSet, Logger, Option } from "effect"
import * as DaemonClient from "./admin/DaemonClient.js"
import * as OneShot from "./backfill/OneShot.js"
import * as ConfigFile from "./config/ConfigFile.js"
import * as Validation from "./config/Validation.js"
import * as Main from "./main.js"

const configFile = Options.file("config", { exists: "yes" }).pipe(
  Options.withAlias("c"),
  Options.withDescription("The YAML configuration file (source, sinks, indexes)")
)

const run = Command.make(
  "run",
  {
    configFile,
    skipBackfill: Options.boolean("skip-backfill").pipe(
      Options.withDescription("Do not backfill, even indexes never seeded; resume live capture only")
    ),
    port: Options.integer("port").pipe(
      Options.optional,
      Options.withDescription("Port of the status server, overriding server.bind (0 picks a free one)")
    ),
    adminPort: Options.integer("admin-port").pipe(
      Options.optional,
      Options.withDescription(
        "Port of the admin server (POST /reindex), overriding server.admin_bind (0 picks a free one)"
      )
    )
  },
  (options) =>
    Effect.scoped(
      Main.run({
        configFile: options.configFile,
        skipBackfill: options.skipBackfill,
        port: Option.getOrUndefined(options.port),
        adminPort: Option.getOrUndefined(options.adminPort)
      })
    )
).pipe(
  Command.withDescription(
    "Backfill every index not yet seeded, then stream changes from the replication slot into the sinks until stopped."
  )
)

const validateConfig = Command.make("validate-config", { configFile }, (options) =>
  Effect.gen(function* () {
    const config = yield* ConfigFile.load(options.configFile)
    const url = yield* Main.sourceUrl(options.configFile, config)
    const validated = yield* Validation.validate(config).pipe(Effect.provide(PgDatabase.layer({ url })))
    yield* Console.log(
      `${options.configFile}: OK — ${validated.plans.length} index(es) over ${validated.tables.length} table(s); ` +
        (validated.publication.missing.length === 0
          ? "the publication covers them all"
          : `the publication will be ${validated.publication.exists ? "extended with" : "created for"} ${validated.publication.missing.map((t) => t.display).join(", ")}`)
    )
  })
).pipe(
  Command.withDescription(
    "Check the configuration against the live source database (tables, columns, keys, relations, wal_level, slot, publication); writes nothing."
  )
)

const backfill = Command.make(
  "backfill",
  {
    configFile,
    indexes: Options.text("index").pipe(
      Options.repeated,
      Options.withDescription("Backfill only this index (repeat for several); default every index")
    ),
    force: Options.boolean("force").pipe(
      Options.withDescription("Backfill the chosen indexes even when already seeded (into the serving table)")
    )
  },
  (options) =>
    Effect.gen(function* () {
      const considered = yield* Effect.scoped(
        OneShot.run({ configFile: options.configFile, indexes: options.indexes, force: options.force })
      )
      yield* Console.error(`backfill done: ${considered.join(", ")}`)
    }).pipe(Effect.catchTag("UnknownIndex", exitWithMessage))
).pipe(
  Command.withDescription(
    "One-shot: ensure the publication, the sinks' indexes and the replication slot, backfill the indexes not yet seeded (with --force: the named ones, or all, again) with progress on stderr, then exit."
  )
)

/** Prints an expected failure of a command as one line on stderr and exits 1 (no stack trace). */
const exitWithMessage = (error: { readonly message: string }) =>
  Effect.zipRight(
    Console.error(`converge-cdc: ${error.message}`),
    Effect.sync(() => process.exit(1))
  )

const reindex = Command.make(
  "reindex",
  {
    index: Args.text({ name: "INDEX" }).pipe(Args.withDescription("The index to rebuild")),
    configFile,
    admin: Options.text("admin").pipe(
      Options.optional,
      Options.withDescription("Base URL of the running daemon's admin server; default from server.admin_bind")
    )
  },
  (options) =>
    Effect.gen(function* () {
      const config = yield* ConfigFile.load(options.configFile)
      const url = DaemonClient.adminUrl(config, Option.getOrUndefined(options.admin))
      yield* DaemonClient.requestReindex(url, options.index)
      yield* Console.log(
        `reindex of "${options.index}" started in the daemon at ${url}; the current generation serves until the new one is swapped in (follow it with: converge-cdc status -c ${options.configFile})`
      )
    }).pipe(
      Effect.catchTags({ DaemonUnreachable: exitWithMessage, DaemonRefused: exitWithMessage }),
      Effect.provide(NodeHttpClient.layerUndici)
    )
).pipe(
  Command.withDescription(
    "Ask the running daemon (over its admin bind) to rebuild INDEX into a new generation from a fresh snapshot while the current one keeps serving, then swap it in atomically."
  )
)

const status = Command.make(
  "status",
  {
    configFile,
    url: Options.text("url").pipe(
      Options.optional,
      Options.withDescription("Base URL of the running daemon's status server; default from server.bind")
    ),
    json: Options.boolean("json").pipe(Options.withDescription("Print the raw /status JSON"))
  },
  (options) =>
    Effect.gen(function* () {
      const config = yield* ConfigFile.load(options.configFile)
      const url = DaemonClient.statusUrl(config, Option.getOrUndefined(options.url))
      const fetched = yield* DaemonClient.fetchStatus(url)
      yield* Console.log(options.json ? fetched.text : DaemonClient.formatStatus(fetched.status, new Date()))
    }).pipe(
      Effect.catchTags({ DaemonUnreachable: exitWithMessage, DaemonRefused: exitWithMessage }),
      Effect.provide(NodeHttpClient.layerUndici)
    )
).pipe(
  Command.withDescription(
    "Show the running daemon's /status: phase, each index's state, change and document counters, slot lag, errors."
  )
)

const command = Command.make("converge-cdc").pipe(
  Command.withDescription("Postgres logical replication to denormalized documents in sinks, at least once."),
  Command.withSubcommands([run, validateConfig, backfill, reindex, status])
)

const cli = Command.run(command, { name: "converge-cdc", version: "0.0.0" })

cli(process.argv).pipe(
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  // Logs go to stderr only: stdout belongs to the stdout sink's JSON lines.
  Effect.locally(FiberRef.currentLoggers, HashSet.make(Logger.withConsoleError(Logger.prettyLogger()))),
  Effect.provide(NodeContext.layer),
  NodeMain.runMain
)
