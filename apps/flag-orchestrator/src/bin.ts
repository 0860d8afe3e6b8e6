#!/usr/bin/env node
/**
 * `converge-flags`: the flag orchestrator's command line.
 *
 * - `converge-flags serve-fdv2 [--flags FILE] [--port N]` — a local FDv2 server with an admin API
 *   to change flags and inject faults (see `server/Fdv2Server.ts`).
 * - `converge-flags relay --upstream URL [--config FILE] [--port N] [--status-port N] [--cache-file PATH]`
 *   — the flag relay (see `relay/Relay.ts`); command-line options override the config file.
 */
import { NodeMain } from "@converge/http"
import { Command, Options, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, Layer, Logger, Option, Schema } from "effect"
import * as Relay from "./relay/Relay.js"
import * as Fdv2Server from "./server/Fdv2Server.js"
import * as FlagsFile from "./server/FlagsFile.js"

const port = (fallback: number) =>
  Options.integer("port").pipe(
    Options.withSchema(
      Schema.Number.pipe(Schema.between(0, 65535, { message: () => "must be a port from 0 to 65535" }))
    ),
    Options.withDefault(fallback),
    Options.withDescription("Port to listen on; 0 picks a free one")
  )

const flags = Options.file("flags", { exists: "either" }).pipe(
  Options.optional,
  Options.withDescription(
    'JSON file of the flags to serve: {"flags": {"<key>": {…}}, "segments": {"<key>": {…}}}; default: none'
  )
)

const serveFdv2 = Command.make("serve-fdv2", { flags, port: port(8030) }, (options) =>
  Effect.gen(function* () {
    const initial = yield* Option.match(options.flags, {
      onNone: () => Effect.succeed(FlagsFile.emptyData),
      onSome: FlagsFile.load
    })
    return yield* Layer.launch(Fdv2Server.layer({ port: options.port, initial }))
  }).pipe(
    Effect.catchTag("FlagsFileError", (error) =>
      Console.error(error.message).pipe(Effect.zipRight(Effect.sync(() => process.exit(1))))
    )
  )
).pipe(
  Command.withDescription(
    "A local FDv2 server: /sdk/stream (SSE), /sdk/poll, /sdk/latest-all (FDv1), and /admin/* to change flags and inject faults."
  )
)

const optionalPort = (name: string, description: string) =>
  Options.integer(name).pipe(
    Options.withSchema(
      Schema.Number.pipe(Schema.between(0, 65535, { message: () => "must be a port from 0 to 65535" }))
    ),
    Options.optional,
    Options.withDescription(description)
  )

const relay = Command.make(
  "relay",
  {
    upstream: Options.text("upstream").pipe(
      Options.optional,
      Options.withDescription(
        "Base URL of the upstream FDv2 server, e.g. http://127.0.0.1:8030 (or `upstream` in --config)"
      )
    ),
    config: Options.file("config", { exists: "either" }).pipe(
      Options.optional,
      Options.withDescription("YAML or JSON relay config file (modes, timeouts, ports, cache file)")
    ),
    port: optionalPort("port", "Port of the flags API (GET /flags …); 0 picks a free one (default 8040)"),
    statusPort: optionalPort(
      "status-port",
      "Port of /status /metrics /healthz /readyz; 0 picks a free one (default 9464)"
    ),
    cacheFile: Options.text("cache-file").pipe(
      Options.optional,
      Options.withDescription(
        "Cache file written on every applied change set and read at start (default flags-cache.json)"
      )
    )
  },
  (options) =>
    Relay.run({
      upstream: Option.getOrUndefined(options.upstream),
      configFile: Option.getOrUndefined(options.config),
      port: Option.getOrUndefined(options.port),
      statusPort: Option.getOrUndefined(options.statusPort),
      cacheFile: Option.getOrUndefined(options.cacheFile)
    }).pipe(
      Effect.catchTag("RelayConfigError", (error) =>
        Console.error(error.message).pipe(Effect.zipRight(Effect.sync(() => process.exit(1))))
      )
    )
).pipe(
  Command.withDescription(
    "A flag relay: keeps the flags of an upstream FDv2 server, persists them to a cache file and serves GET /flags, /flags/:key, /flags/stream."
  )
)

const root = Command.make("converge-flags").pipe(
  Command.withDescription("The FDv2 flag orchestrator: a local FDv2 server and a flag relay."),
  Command.withSubcommands([serveFdv2, relay])
)

const cli = Command.run(root, { name: "converge-flags", version: "0.0.0" })

cli(process.argv).pipe(
  // The CLI has already printed what was wrong with the command line; just exit with 1.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  Effect.provide(Layer.merge(NodeContext.layer, Logger.pretty)),
  NodeMain.runMain
)
