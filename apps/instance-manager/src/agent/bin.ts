#!/usr/bin/env node
/**
 * The sample agent alone (`node --import tsx src/agent/bin.ts --help`): the same as
 * `converge-instances agent`, without loading the manager (faster to start in every instance).
 */
import { NodeMain } from "@converge/http"
import { Command, ValidationError } from "@effect/cli"
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import * as AgentCommand from "./AgentCommand.js"

Command.run(AgentCommand.command, { name: "converge-agent", version: "0.0.0" })(process.argv).pipe(
  // The CLI has already printed what was wrong with the command line.
  Effect.catchIf(ValidationError.isValidationError, () => Effect.sync(() => process.exit(1))),
  Effect.provide(NodeContext.layer),
  NodeMain.runMain
)
