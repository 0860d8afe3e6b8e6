#!/usr/bin/env node
/**
 * `npm start`: boots Postgres (embedded unless `DATABASE_URL` / `--database-url` is given),
 * runs the playground and serves its status until Ctrl-C.
 */
import { NodeMain, Tracing } from "@converge/http"
import { EmbeddedPostgres } from "@converge/pg"
import { Command, Options, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import { Config, Duration, Effect, Layer, Logger, Option, Redacted, Schema } from "effect"
import * as Playground from "./Playground.js"

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
const failureRate = Options.float("failure-rate").pipe(
  Options.withSchema(
    Schema.Number.pipe(
      Schema.greaterThanOrEqualTo(0),
      Schema.lessThan(1),
      Schema.annotations({ message: () => "must be at least 0 and below 1" })
    )
  ),
  Options.withDefault(0.2),
  Options.withDescription("Chance (0 to 1) that a reconcile fails on purpose, to show retries")
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

const database = (url: Option.Option<Redacted.Redacted>) =>
  Option.match(url, {
    onSome: (url) => ({ layer: PgClient.layer({ url }), label: "your database (DATABASE_URL)" }),
    onNone: () => ({
      layer: Layer.unwrapScoped(
        Effect.map(EmbeddedPostgres.make(), (server) => PgClient.layer({ url: Redacted.make(server.url) }))
      ),
      label: "embedded Postgres (a temporary data directory, removed on exit)"
    })
  })

const command = Command.make(
  "converge-playground",
  { port, items, failureRate, churnEvery, databaseUrl },
  (options) =>
    Effect.gen(function* () {
      const { layer, label } = database(options.databaseUrl)
      return yield* Playground.run({
        port: options.port,
        items: options.items,
        failureRate: options.failureRate,
        churnEvery: Duration.millis(options.churnEvery),
        databaseLabel: label
      }).pipe(Effect.provide(Layer.merge(layer, Tracing.layer({ serviceName: "converge-playground" }))))
    })
).pipe(
  Command.withDescription(
    "A sample controller converging a desired set of items against an actual set in Postgres, with injected failures."
  )
)

const cli = Command.run(command, { name: "converge-playground", version: "0.0.0" })

cli(process.argv).pipe(
  // The CLI has already printed what was wrong with the command line; just exit with 1.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  Effect.provide(Layer.merge(NodeContext.layer, Logger.pretty)),
  NodeMain.runMain
)
