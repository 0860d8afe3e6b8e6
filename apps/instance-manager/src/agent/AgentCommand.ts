/**
 * `converge-instances agent` (also `src/agent/bin.ts` on its own, which starts faster): the sample
 * agent's command line. The instance's id and the manager's URL default to the variables the
 * process provider sets, so a command template of just the agent works.
 */
import { Command, HelpDoc, Options, ValidationError } from "@effect/cli"
import { FetchHttpClient } from "@effect/platform"
import { Config, Duration, Effect, Schema } from "effect"
import { DurationText } from "../config/DurationText.js"
import * as Agent from "./Agent.js"

const duration = (name: string, fallback: string, description: string) =>
  Options.text(name).pipe(
    Options.withDefault(fallback),
    Options.mapEffect((text) =>
      Schema.decodeUnknown(DurationText)(text).pipe(
        Effect.mapError(() =>
          ValidationError.invalidValue(
            HelpDoc.p(`--${name}: expected a duration such as "500ms", "10s" or "1m", got "${text}"`)
          )
        )
      )
    ),
    Options.withDescription(description)
  )

/** The `agent` command. */
export const command = Command.make(
  "agent",
  {
    managerUrl: Options.text("manager-url").pipe(
      Options.withFallbackConfig(Config.string("CONVERGE_MANAGER_URL")),
      Options.withDescription("The manager's API base URL (default: CONVERGE_MANAGER_URL)")
    ),
    instanceId: Options.text("instance-id").pipe(
      Options.withFallbackConfig(Config.string("CONVERGE_INSTANCE_ID")),
      Options.withDescription("The instance's id (default: CONVERGE_INSTANCE_ID)")
    ),
    interval: duration("interval", "10s", "Time between two health reports"),
    drainDelay: duration("drain-delay", "0s", "Time between a drain signal and the drain ack"),
    ignoreDrains: Options.boolean("ignore-drains").pipe(
      Options.withDescription("Do not acknowledge drains (leave it to `converge-instances drain-ack`)")
    )
  },
  (options) =>
    Agent.run({
      managerUrl: options.managerUrl,
      instanceId: options.instanceId,
      interval: Duration.max(options.interval, Duration.millis(50)),
      ackDrains: !options.ignoreDrains,
      drainDelay: options.drainDelay,
      drainSignal: "SIGUSR2"
    }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer))
).pipe(
  Command.withDescription(
    "The sample instance agent: reports health to the manager, acknowledges drains on SIGUSR2, stops on SIGTERM"
  )
)
