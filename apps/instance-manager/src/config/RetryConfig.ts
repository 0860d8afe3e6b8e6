/**
 * Retry policies per event type, for creates, and for follow-up health checks. Each may override
 * any field of its default; the result is a core `RetryPolicy`.
 *
 * Defaults: every event type and creates use `RetryPolicy.event` (5 s doubling to 2 min,
 * 8 attempts, plus 0–25 % jitter); follow-up checks after a disconnect 3 s doubling to 30 s,
 * 8 attempts, plus 0–25 % jitter. A provider's permanent error is never retried.
 */
import { RetryPolicy } from "@converge/core"
import { Duration, Either, ParseResult, Schema } from "effect"
import type { EventType } from "../EventType.js"
import { DurationText } from "./DurationText.js"

/** Error tags that are never retried, whatever the policy. */
export const nonRetryable: ReadonlyArray<string> = ["ProviderPermanentError", "PermanentError"]

/** The default policy of event handling and creates: `RetryPolicy.event` plus the permanent error tags. */
export const eventDefault: RetryPolicy.RetryPolicy = new RetryPolicy.RetryPolicy({
  ...RetryPolicy.event,
  nonRetryable
})

/** The default policy of follow-up checks after a disconnect: 3 s doubling to 30 s, 8 attempts, +0–25 %. */
export const followUpDefault: RetryPolicy.RetryPolicy = new RetryPolicy.RetryPolicy({
  initialDelayMs: 3_000,
  multiplier: 2,
  maxDelayMs: 30_000,
  maxAttempts: 8,
  jitter: RetryPolicy.event.jitter,
  nonRetryable
})

/** The fields a config may override; the rest keep the default's values. `jitter` is a fraction added on top. */
export const RetryOverride = Schema.Struct({
  initialDelay: Schema.optional(DurationText),
  multiplier: Schema.optional(Schema.Number),
  maxDelay: Schema.optional(DurationText),
  maxAttempts: Schema.optional(Schema.Number),
  jitter: Schema.optional(Schema.Number)
})

/** The type of `RetryOverride`. */
export type RetryOverride = typeof RetryOverride.Type

/** A `RetryOverride` applied onto `defaults`, checked by the core `RetryPolicy` schema. */
export const policyFrom = (defaults: RetryPolicy.RetryPolicy) =>
  Schema.transformOrFail(RetryOverride, Schema.typeSchema(RetryPolicy.RetryPolicy), {
    strict: true,
    decode: (override, _, ast) =>
      Schema.decodeUnknownEither(RetryPolicy.RetryPolicy)({
        initialDelayMs:
          override.initialDelay === undefined
            ? defaults.initialDelayMs
            : Duration.toMillis(override.initialDelay),
        multiplier: override.multiplier ?? defaults.multiplier,
        maxDelayMs:
          override.maxDelay === undefined ? defaults.maxDelayMs : Duration.toMillis(override.maxDelay),
        maxAttempts: override.maxAttempts ?? defaults.maxAttempts,
        jitter: override.jitter === undefined ? defaults.jitter : { fraction: override.jitter, mode: "plus" },
        nonRetryable: defaults.nonRetryable
      }).pipe(
        Either.mapLeft(
          (error) =>
            new ParseResult.Type(
              ast,
              override,
              `not a valid retry policy (${ParseResult.TreeFormatter.formatErrorSync(error).replace(/\s+/g, " ")}): use initialDelay <= maxDelay, multiplier >= 1, maxAttempts >= 0 (0 = unbounded), jitter between 0 and 1`
            )
        )
      ),
    encode: (policy) =>
      ParseResult.succeed({
        initialDelay: Duration.millis(policy.initialDelayMs),
        multiplier: policy.multiplier,
        maxDelay: Duration.millis(policy.maxDelayMs),
        maxAttempts: policy.maxAttempts,
        jitter: policy.jitter.fraction
      })
  })

const optionalPolicy = (defaults: RetryPolicy.RetryPolicy) =>
  Schema.optionalWith(policyFrom(defaults), { default: () => defaults })

/** What the `retry` section configures: each event type, `create` and `followUp`. */
export type RetryTarget = EventType | "create" | "followUp"

/** The resolved policies of the `retry` section. */
export type RetryConfig = { readonly [target in RetryTarget]: RetryPolicy.RetryPolicy }

/** The `retry` section as written: an optional override per target. */
export type RetryConfigEncoded = {
  readonly [target in RetryTarget]?: typeof RetryOverride.Encoded | undefined
}

/** The `retry` section: one policy per event type, `create`, and `followUp`. */
export const RetryConfig: Schema.Schema<RetryConfig, RetryConfigEncoded> = Schema.Struct({
  InitialReconcile: optionalPolicy(eventDefault),
  GroupChanged: optionalPolicy(eventDefault),
  CheckInstance: optionalPolicy(eventDefault),
  InstanceDeleted: optionalPolicy(eventDefault),
  DrainAcked: optionalPolicy(eventDefault),
  TerminationNotice: optionalPolicy(eventDefault),
  create: optionalPolicy(eventDefault),
  followUp: optionalPolicy(followUpDefault)
})

/** Every policy at its default. */
export const defaults: RetryConfig = {
  InitialReconcile: eventDefault,
  GroupChanged: eventDefault,
  CheckInstance: eventDefault,
  InstanceDeleted: eventDefault,
  DrainAcked: eventDefault,
  TerminationNotice: eventDefault,
  create: eventDefault,
  followUp: followUpDefault
}

/** The policy that governs retries of events of `type`. */
export const forEvent = (retry: RetryConfig, type: EventType): RetryPolicy.RetryPolicy => retry[type]
