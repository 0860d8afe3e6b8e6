#!/usr/bin/env node
/**
 * `converge-cdc`: keeps denormalized documents in sinks in step with a Postgres source.
 *
 * ```text
 *   converge-cdc run -c FILE [--skip-backfill] [--port N]
 *   converge-cdc validate-config -c FILE
 * ```
 */
import { NodeMain } from "@converge/http"
import { PgDatabase } from "@converge/pg"
import { Command, Options, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, FiberRef, HashSet, Logger, Option } from "effect"
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
    )
  },
  (options) =>
    Effect.scoped(
      Main.run({
        configFile: options.configFile,
        skipBackfill: options.skipBackfill,
        port: Option.getOrUndefined(options.port)
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

const command = Command.make("converge-cdc").pipe(
  Command.withDescription("Postgres logical replication to denormalized documents in sinks, at least once."),
  Command.withSubcommands([run, validateConfig])
)

const cli = Command.run(command, { name: "converge-cdc", version: "0.0.0" })

cli(process.argv).pipe(
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  // Logs go to stderr only: stdout belongs to the stdout sink's JSON lines.
  Effect.locally(FiberRef.currentLoggers, HashSet.make(Logger.withConsoleError(Logger.prettyLogger()))),
  Effect.provide(NodeContext.layer),
  NodeMain.runMain
)
