/**
 * Which provider creates the instances: `simulated` (an in-memory cloud, the embedded default) or
 * `process` (real local processes started from a command template).
 */
import { Duration, Schema } from "effect"
import { DurationText } from "./DurationText.js"

/** The simulated cloud's API token bucket: `burst` calls at once, refilled at `perSecond`. */
export const ApiBucketConfig = Schema.Struct({
  burst: Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1)),
  perSecond: Schema.Number.pipe(Schema.positive())
})

/** Settings of the simulated provider (all optional). */
export const SimulatedProviderConfig = Schema.Struct({
  type: Schema.Literal("simulated"),
  createLatency: Schema.optionalWith(DurationText, { default: () => Duration.millis(50) }),
  deleteLatency: Schema.optionalWith(DurationText, { default: () => Duration.millis(20) }),
  describeLatency: Schema.optionalWith(DurationText, { default: () => Duration.millis(5) }),
  /** Time from `pending` to `running` after a create returns. */
  bootTime: Schema.optionalWith(DurationText, { default: () => Duration.seconds(5) }),
  failureRate: Schema.optionalWith(
    Schema.Number.pipe(Schema.between(0, 1, { message: () => "failureRate must be between 0 and 1" })),
    { default: () => 0 }
  ),
  quota: Schema.optional(Schema.Number.pipe(Schema.int(), Schema.nonNegative())),
  /** Instances per page of `listAll` (one API call per page), as a cloud's page size (EC2: up to 1 000). */
  listPageSize: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1)), {
    default: () => 1_000
  }),
  api: Schema.optionalWith(ApiBucketConfig, { default: () => ({ burst: 100, perSecond: 20 }) }),
  throttle: Schema.optionalWith(Schema.Literal("wait", "reject"), { default: () => "wait" as const })
})

/** The type of `SimulatedProviderConfig`. */
export type SimulatedProviderConfig = typeof SimulatedProviderConfig.Type

const commandHint =
  "command must be the program and its arguments, e.g. [node, --import, tsx, src/agent/bin.ts, --interval, 5s]"

/**
 * Settings of the process provider: the command (argv) each instance runs, where its state and
 * logs live, the SIGTERM grace period, and the signal that tells an instance it drains.
 */
export const ProcessProviderConfig = Schema.Struct({
  type: Schema.Literal("process"),
  /** argv; `{instanceId}`, `{tenant}`, `{group}`, `{managerUrl}`, `{templateHash}` are replaced in each element. */
  command: Schema.propertySignature(
    Schema.NonEmptyArray(Schema.String).annotations({
      message: () => ({ message: commandHint, override: true })
    })
  ).annotations({ missingMessage: () => commandHint }),
  /** Time between SIGTERM and SIGKILL when an instance is deleted. */
  gracePeriod: Schema.optionalWith(DurationText, { default: () => Duration.seconds(10) }),
  /** One JSON file per instance (pid, start time, group): what `list` reads after a restart. */
  stateDir: Schema.optionalWith(Schema.NonEmptyString, { default: () => ".converge/instances" }),
  /** One log file per instance (its stdout and stderr); default `<stateDir>/logs`. */
  logDir: Schema.optional(Schema.NonEmptyString),
  /** Working directory of the instances (default: the manager's). */
  cwd: Schema.optional(Schema.NonEmptyString),
  /** Extra environment variables of the instances. */
  env: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), {
    default: () => ({})
  }),
  /** The API URL the agents report to (default: the URL the manager's API server bound). */
  managerUrl: Schema.optional(Schema.NonEmptyString),
  /** Sent to an instance's process when its drain starts (the sample agent acks on `SIGUSR2`); none by default. */
  drainSignal: Schema.optional(
    Schema.Literal("SIGUSR2", "SIGUSR1", "SIGHUP", "SIGWINCH").annotations({
      message: () => ({
        message:
          "drainSignal must be SIGUSR2, SIGUSR1, SIGHUP or SIGWINCH: a signal the instance can catch (the sample agent acks on SIGUSR2)",
        override: true
      })
    })
  )
})

/** The type of `ProcessProviderConfig`. */
export type ProcessProviderConfig = typeof ProcessProviderConfig.Type

/** The provider names this version knows. */
export const providerTypes = ["simulated", "process"] as const

/** Either provider's settings, told apart by `type`. */
export const ProviderConfig = Schema.Union(SimulatedProviderConfig, ProcessProviderConfig)

/** The type of `ProviderConfig`. */
export type ProviderConfig = typeof ProviderConfig.Type
