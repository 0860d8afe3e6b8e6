/**
 * The instance manager's config file (YAML), decoded with Schema:
 *
 * ```yaml
 * provider: { type: simulated, createLatency: 50ms, api: { burst: 100, perSecond: 20 } }
 * createRateLimit: { burst: 10, perSecond: 5 }
 * retry: { create: { initialDelay: 5s, maxDelay: 2m, maxAttempts: 8 } }
 * groups:
 *   - key: web
 *     desiredSize: 3
 *     maxSurge: 1
 *     expiry: { eligibleAge: 12h, forcedAge: 24h }
 *     template: { image: web-1.4 }
 * ```
 *
 * Unknown fields are errors (a misspelt field must not be silently ignored). A bad file fails
 * with a `ConfigError` that names the file, the path inside it, what was wrong and how to fix it.
 */
import * as Fs from "node:fs/promises"
import { Data, Duration, Effect, Option, ParseResult, Schema } from "effect"
import * as Yaml from "yaml"
import { DurationText } from "./DurationText.js"
import { ExpiryConfig, GroupConfig, ruleIssues } from "./GroupConfig.js"
import { ProviderConfig, providerTypes } from "./ProviderConfig.js"
import { RetryConfig, defaults as retryDefaults } from "./RetryConfig.js"

/** The global create rate limit: a token bucket shared by all groups, so one busy group cannot starve the rest. */
export const CreateRateLimitConfig = Schema.Struct({
  burst: Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1)),
  perSecond: Schema.Number.pipe(Schema.positive())
})

/** The type of `CreateRateLimitConfig`. */
export type CreateRateLimitConfig = typeof CreateRateLimitConfig.Type

/** Groups listed twice (same tenant and key), at the later entry's `key`. */
const duplicateGroups = (
  groups: ReadonlyArray<{ readonly tenant: string; readonly key: string } | undefined>
): Array<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }> => {
  const seen = new Set<string>()
  const issues: Array<{ readonly path: ReadonlyArray<PropertyKey>; readonly message: string }> = []
  for (const [index, group] of groups.entries()) {
    if (group === undefined) continue
    const id = `${group.tenant}/${group.key}`
    if (seen.has(id)) {
      issues.push({
        path: ["groups", index, "key"],
        message: `group "${group.key}" of tenant "${group.tenant}" is listed twice: give each group its own key`
      })
    }
    seen.add(id)
  }
  return issues
}

/** The whole config file, with defaults applied. */
export const ManagerConfig = Schema.Struct({
  provider: Schema.optionalWith(ProviderConfig, {
    default: () => Schema.decodeSync(ProviderConfig)({ type: "simulated" })
  }),
  createRateLimit: Schema.optionalWith(CreateRateLimitConfig, {
    default: () => ({ burst: 10, perSecond: 5 })
  }),
  retry: Schema.optionalWith(RetryConfig, { default: () => retryDefaults }),
  concurrency: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1)), {
    default: () => 8
  }),
  eventQueueCapacity: Schema.optionalWith(Schema.Number.pipe(Schema.int(), Schema.greaterThanOrEqualTo(1)), {
    default: () => 10_000
  }),
  leaderLockKey: Schema.optionalWith(Schema.Number.pipe(Schema.int()), { default: () => 7_000_001 }),
  /**
   * How often a standby tries the leader lock (and the leader verifies it holds it): a standby
   * takes over at most this long after the leader's session ends. Default 1 s.
   */
  leaderCheckInterval: Schema.optionalWith(
    DurationText.pipe(
      Schema.filter(
        (interval) =>
          Duration.greaterThan(interval, Duration.zero) ||
          "leaderCheckInterval must be positive: a standby tries the leader lock once per interval (e.g. 250ms)"
      )
    ),
    { default: () => Duration.seconds(1) }
  ),
  groups: Schema.optionalWith(Schema.Array(GroupConfig), { default: () => [] })
}).pipe(Schema.filter((config) => duplicateGroups(config.groups)))

/** The decoded config. */
export type ManagerConfig = typeof ManagerConfig.Type

/** One problem in a config file: where (`groups[0].expiry.eligibleAge`) and what. */
export interface ConfigIssue {
  readonly path: string
  readonly message: string
}

/** The config could not be read or is invalid; `message` lists every problem with its path. */
export class ConfigError extends Data.TaggedError("ConfigError")<{
  readonly source: string
  readonly issues: ReadonlyArray<ConfigIssue>
  readonly message: string
}> {}

const configError = (source: string, issues: ReadonlyArray<ConfigIssue>): ConfigError =>
  new ConfigError({
    source,
    issues,
    message: `Invalid instance manager config ${source}:\n${issues.map((issue) => `  ${issue.path}: ${issue.message}`).join("\n")}`
  })

const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.length === 0
    ? "(top level)"
    : path
        .map((segment, index) =>
          typeof segment === "number" ? `[${segment}]` : index === 0 ? String(segment) : `.${String(segment)}`
        )
        .join("")

const hint = (path: ReadonlyArray<PropertyKey>, message: string): string => {
  const last = path.at(-1)
  if (path[0] === "provider" && last === "type") {
    return `unknown provider: use one of ${providerTypes.map((type) => `"${type}"`).join(", ")} (${message})`
  }
  if (message.startsWith("is unexpected")) return "unknown field: remove it or check its spelling"
  return message
}

const decodeValue = Schema.decodeUnknown(ManagerConfig, { errors: "all", onExcessProperty: "error" })

const decodeOption = <A, I>(schema: Schema.Schema<A, I>, value: unknown): A | undefined =>
  Option.getOrUndefined(Schema.decodeUnknownOption(schema)(value))

const field = (value: unknown, name: string): unknown =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>)[name] : undefined

/**
 * The cross-field rules (eligible ≥ forced age, a zero health interval, duplicate groups) checked
 * on the parts of a file that decode on their own. Schema filters run only on fully valid values,
 * so without this a file with a negative size would hide its expiry mistake until the next try.
 */
const crossFieldIssues = (value: unknown): ReadonlyArray<ConfigIssue> => {
  const groups = field(value, "groups")
  if (!Array.isArray(groups)) return []
  const rules = groups.flatMap((group: unknown, index) =>
    ruleIssues({
      expiry: decodeOption(ExpiryConfig, field(group, "expiry") ?? {}),
      healthInterval: decodeOption(DurationText, field(group, "healthInterval"))
    }).map((issue) => ({ path: formatPath(["groups", index, ...issue.path]), message: issue.message }))
  )
  const identities = groups.map((group: unknown) => {
    const key = field(group, "key")
    const tenant = field(group, "tenant") ?? "default"
    return typeof key === "string" && typeof tenant === "string"
      ? { tenant: tenant.trim(), key: key.trim() }
      : undefined
  })
  const duplicates = duplicateGroups(identities).map((issue) => ({
    path: formatPath(issue.path),
    message: issue.message
  }))
  return [...rules, ...duplicates]
}

/**
 * Decodes an already parsed value (e.g. from YAML or JSON); `source` names it in errors. Every
 * problem is reported at once: field errors and the cross-field rules together.
 */
export const decode = (value: unknown, source: string): Effect.Effect<ManagerConfig, ConfigError> =>
  decodeValue(value ?? {}).pipe(
    Effect.mapError((error) => {
      // An optional field is a union with `undefined`, whose "Expected undefined" branch says nothing useful.
      const issues = [
        ...ParseResult.ArrayFormatter.formatErrorSync(error)
          .filter((issue) => !issue.message.startsWith("Expected undefined"))
          .map((issue) => ({ path: formatPath(issue.path), message: hint(issue.path, issue.message) })),
        ...crossFieldIssues(value)
      ]
      // A union reports one issue per member, and a rule may be found twice; keep the first per path.
      const unique = issues.filter(
        (issue, index) => issues.findIndex((other) => other.path === issue.path) === index
      )
      return configError(source, unique)
    })
  )

/** Parses YAML text and decodes it; `source` (a file name) names it in errors. */
export const decodeYaml = (text: string, source: string): Effect.Effect<ManagerConfig, ConfigError> =>
  Effect.try({
    try: () => Yaml.parse(text, { prettyErrors: true }) as unknown,
    catch: (cause) =>
      configError(source, [
        {
          path: "(file)",
          message: `not valid YAML: ${cause instanceof Error ? cause.message : String(cause)}`
        }
      ])
  }).pipe(Effect.flatMap((value) => decode(value, source)))

/** The group identified by `tenant` and `key`, if configured. */
export const findGroup = (config: ManagerConfig, tenant: string, key: string): GroupConfig | undefined =>
  config.groups.find((group) => group.tenant === tenant && group.key === key)

/** Reads and decodes the YAML config file at `path`. */
export const load = (path: string): Effect.Effect<ManagerConfig, ConfigError> =>
  Effect.tryPromise({
    try: () => Fs.readFile(path, "utf8"),
    catch: (cause) =>
      configError(path, [
        {
          path: "(file)",
          message: `cannot read the file (${cause instanceof Error ? cause.message : String(cause)}): check the path given to -c`
        }
      ])
  }).pipe(Effect.flatMap((text) => decodeYaml(text, path)))
