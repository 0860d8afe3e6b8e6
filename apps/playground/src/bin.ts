#!/usr/bin/env node
/**
 * `npm start`: boots Postgres (embedded unless `DATABASE_URL` / `--database-url` is given),
 * runs the playground and serves its status until Ctrl-C.
 *
 * - `npm start` — the sample controller (inventory) demo.
 * - `npm start -- deps` — the dependency reconciler with a sample workload (see `DepsDemo.ts`).
 * - `npm start -- flags` — the flag relay against a local FDv2 server, with a scripted scenario
 *   of flag changes and faults (see `FlagsDemo.ts`).
 * - `npm start -- instances` — the instance manager on a simulated cloud, with a scripted scenario
 *   of faults and config changes (see `InstancesDemo.ts`).
 * - `npm start -- cdc` — cdc-sync syncing a live bookstore into the postgres sink, with a
 *   full-text search over it printed every few seconds (see `CdcDemo.ts`).
 */
import { NodeMain, Tracing } from "@converge/http"
import { Command, Options, ValidationError } from "@effect/cli"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { Config, Duration, Effect, Layer, Logger, Option, Schema } from "effect"
import * as CdcDemo from "./CdcDemo.js"
import * as Database from "./Database.js"
import * as DepsDemo from "./DepsDemo.js"
import * as FlagsDemo from "./FlagsDemo.js"
import * as InstancesDemo from "./InstancesDemo.js"
import * as Playground from "./Playground.js"

const portNumber = Schema.Number.pipe(
  Schema.between(0, 65535, { message: () => "must be a port from 0 to 65535" })
)

const port = Options.integer("port").pipe(
  Options.withFallbackConfig(Config.integer("CONVERGE_HTTP_PORT")),
  Options.withDefault(7070),
  Options.withDescription(
    "Port of the status server (/status, /metrics, /healthz, /readyz); 0 picks a free one"
  )
)
const items = Options.integer("items").pipe(
  Options.withSchema(Schema.Number.pipe(Schema.between(1, 999, { message: () => "must be from 1 to 999" }))),
  Options.withDefault(50),
  Options.withDescription("Items in the desired set at start (1 to 999)")
)
const failureRate = (fallback: number, what: string) =>
  Options.float("failure-rate").pipe(
    Options.withSchema(
      Schema.Number.pipe(
        Schema.greaterThanOrEqualTo(0),
        Schema.lessThan(1),
        Schema.annotations({ message: () => "must be at least 0 and below 1" })
      )
    ),
    Options.withDefault(fallback),
    Options.withDescription(`Chance (0 to 1) that ${what} fails on purpose, to show retries`)
  )
const churnEvery = Options.integer("churn-every-ms").pipe(
  Options.withSchema(Schema.NonNegative.annotations({ message: () => "must be 0 or more" })),
  Options.withDefault(2000),
  Options.withDescription("How often the desired set changes, in milliseconds; 0 turns churn off")
)
const databaseUrl = Options.redacted("database-url").pipe(
  Options.withFallbackConfig(Config.redacted("DATABASE_URL")),
  Options.optional,
  Options.withDescription("Postgres to use instead of the embedded server (default: DATABASE_URL)")
)

const tracing = (serviceName: string) => Tracing.layer({ serviceName })

const deps = Command.make(
  "deps",
  {
    port: Options.integer("port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(8080),
      Options.withDescription("Port of the dependency reconciler's HTTP API; 0 picks a free one")
    ),
    statusPort: Options.integer("status-port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(7070),
      Options.withDescription(
        "Port of the status server (/status, /metrics, /healthz, /readyz); 0 picks a free one"
      )
    ),
    failureRate: failureRate(0.1, "a simulated worker's execution"),
    progressEvery: Options.integer("progress-every-ms").pipe(
      Options.withSchema(Schema.Positive.annotations({ message: () => "must be above 0" })),
      Options.withDefault(5000),
      Options.withDescription("How often a one-line progress summary is printed, in milliseconds")
    ),
    databaseUrl
  },
  (options) =>
    Effect.gen(function* () {
      const database = Database.fromUrl(options.databaseUrl)
      return yield* DepsDemo.run({
        port: options.port,
        statusPort: options.statusPort,
        failureRate: options.failureRate,
        progressEvery: Duration.millis(options.progressEvery),
        databaseLabel: database.label
      }).pipe(Effect.provide(Layer.merge(database.layer, tracing("converge-playground-deps"))))
    })
).pipe(
  Command.withDescription(
    "The dependency reconciler: its engine and HTTP API on Postgres, with a sample workload of flows whose simulated workers fail some executions."
  )
)

const flags = Command.make(
  "flags",
  {
    serverPort: Options.integer("server-port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(8030),
      Options.withDescription("Port of the local FDv2 server and its admin API; 0 picks a free one")
    ),
    port: Options.integer("port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(8040),
      Options.withDescription("Port of the relay's flags API (GET /flags …); 0 picks a free one")
    ),
    statusPort: Options.integer("status-port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(9464),
      Options.withDescription(
        "Port of the relay's status server (/status, /metrics, /healthz, /readyz); 0 picks a free one"
      )
    ),
    pace: Options.float("pace").pipe(
      Options.withSchema(Schema.Number.pipe(Schema.positive({ message: () => "must be above 0" }))),
      Options.withDefault(1),
      Options.withDescription(
        "Multiplies the scenario's delays: 1 is real time (about 35 s), 0.2 five times faster"
      )
    ),
    once: Options.boolean("once").pipe(
      Options.withDescription("Exit once the scenario has run and the relay serves the server's latest flags")
    )
  },
  (options) =>
    FlagsDemo.run({
      serverPort: options.serverPort,
      relayPort: options.port,
      statusPort: options.statusPort,
      pace: options.pace,
      once: options.once
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
).pipe(
  Command.withDescription(
    "The flag relay against a local FDv2 server, through a scripted scenario of flag changes and faults (goodbyes, dropped streams, 503s, invalid data)."
  )
)

const instances = Command.make(
  "instances",
  {
    port: Options.integer("port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(8050),
      Options.withDescription("Port of the instance manager's HTTP API; 0 picks a free one")
    ),
    statusPort: Options.integer("status-port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(9465),
      Options.withDescription(
        "Port of the status server (/status, /metrics, /healthz, /readyz); 0 picks a free one"
      )
    ),
    pace: Options.float("pace").pipe(
      Options.withSchema(Schema.Number.pipe(Schema.positive({ message: () => "must be above 0" }))),
      Options.withDefault(1),
      Options.withDescription("Multiplies the pause after each scenario step: 1 is 5 s, 0.2 one second")
    ),
    once: Options.boolean("once").pipe(
      Options.withDescription("Exit once the scenario has run and every group has converged")
    ),
    databaseUrl
  },
  (options) =>
    Effect.gen(function* () {
      const database = Database.fromUrl(options.databaseUrl)
      return yield* InstancesDemo.run({
        port: options.port,
        statusPort: options.statusPort,
        pace: options.pace,
        once: options.once,
        databaseLabel: database.label
      }).pipe(Effect.provide(Layer.merge(database.layer, tracing("converge-playground-instances"))))
    })
).pipe(
  Command.withDescription(
    "The instance manager on a simulated cloud, through a scripted scenario: a mass failure, silent agents against the replacement budget, a termination notice, a resize and a template change (drift rotation)."
  )
)

const cdc = Command.make(
  "cdc",
  {
    statusPort: Options.integer("status-port").pipe(
      Options.withSchema(portNumber),
      Options.withDefault(9466),
      Options.withDescription(
        "Port of the status server (/status, /metrics, /healthz, /readyz); 0 picks a free one"
      )
    ),
    rate: Options.integer("rate").pipe(
      Options.withSchema(
        Schema.Number.pipe(Schema.between(1, 1000, { message: () => "must be from 1 to 1000" }))
      ),
      Options.withDefault(5),
      Options.withDescription("Changes the bookstore writer makes per second (1 to 1000)")
    ),
    searchEvery: Options.integer("search-every-ms").pipe(
      Options.withSchema(Schema.Positive.annotations({ message: () => "must be above 0" })),
      Options.withDefault(3000),
      Options.withDescription("How often the search line is printed, in milliseconds")
    ),
    query: Options.text("query").pipe(
      Options.optional,
      Options.withDescription(
        "What to search for (web search syntax); default: a different sample word each time"
      )
    ),
    databaseUrl
  },
  (options) =>
    Effect.gen(function* () {
      const database = Database.fromUrl(options.databaseUrl)
      return yield* CdcDemo.run({
        statusPort: options.statusPort,
        rate: options.rate,
        searchEvery: Duration.millis(options.searchEvery),
        query: Option.getOrUndefined(options.query),
        databaseLabel: database.label
      }).pipe(Effect.provide(Layer.merge(database.layer, tracing("converge-playground-cdc"))))
    })
).pipe(
  Command.withDescription(
    "cdc-sync on a bookstore (authors, books, reviews) with a live writer, syncing into the postgres sink; a full-text search over the sink table is printed every few seconds."
  )
)

const command = Command.make(
  "converge-playground",
  { port, items, failureRate: failureRate(0.2, "a reconcile"), churnEvery, databaseUrl },
  (options) =>
    Effect.gen(function* () {
      const database = Database.fromUrl(options.databaseUrl)
      return yield* Playground.run({
        port: options.port,
        items: options.items,
        failureRate: options.failureRate,
        churnEvery: Duration.millis(options.churnEvery),
        databaseLabel: database.label
      }).pipe(Effect.provide(Layer.merge(database.layer, tracing("converge-playground"))))
    })
).pipe(
  Command.withDescription(
    "A sample controller converging a desired set of items against an actual set in Postgres, with injected failures. Subcommands: `deps` (the dependency reconciler), `flags` (the flag relay), `instances` (the instance manager), `cdc` (cdc-sync)."
  ),
  Command.withSubcommands([deps, flags, instances, cdc])
)

const cli = Command.run(command, { name: "converge-playground", version: "0.0.0" })

cli(process.argv).pipe(
  // The CLI has already printed what was wrong with the command line; just exit with 1.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  Effect.provide(Layer.merge(NodeContext.layer, Logger.pretty)),
  NodeMain.runMain
)
