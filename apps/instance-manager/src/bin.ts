#!/usr/bin/env node
/**
 * `converge-instances`: the instance manager's command line (see `Cli` and `--help`).
 * Run it with `node --import tsx src/bin.ts <command>`.
 */
import { NodeMain } from "@converge/http"
import { ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Console, Effect, Layer, Logger } from "effect"
import * as Cli from "./Cli.js"

Cli.cli(process.argv).pipe(
  // The CLI has already printed what was wrong with the command line.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  Effect.catchTag("CommandFailed", (error) =>
    Console.error(`converge-instances: ${error.message}`).pipe(
      Effect.zipRight(
        Effect.sync(() => {
          process.exitCode = 1
        })
      )
    )
  ),
  Effect.provide(Layer.merge(NodeContext.layer, Logger.pretty)),
  NodeMain.runMain
)
