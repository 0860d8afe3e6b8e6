/**
 * One managed group in the config file: its size, surge, health, drain, expiry, replacement
 * budget and instance template. Cross-field rules (eligible age below forced age, a budget that
 * allows at least one replacement) are checked here so a bad file fails before anything runs.
 */
import { Duration, Schema } from "effect"
import { DurationText } from "./DurationText.js"

const NonNegativeInt = (field: string, fix: string) =>
  Schema.Number.pipe(
    Schema.int({ message: () => `${field} must be a whole number: ${fix}` }),
    Schema.nonNegative({ message: () => `${field} must not be negative: ${fix}` })
  )

/** Expiry ages: past `eligibleAge` an instance is replaced when nothing drains; past `forcedAge` always. */
export const ExpiryConfig = Schema.Struct({
  eligibleAge: Schema.optional(DurationText),
  forcedAge: Schema.optional(DurationText)
})

/** The type of `ExpiryConfig`. */
export type ExpiryConfig = typeof ExpiryConfig.Type

/**
 * The replacement budget, a circuit breaker: at most `maxReplacements` instances, or `maxPercent`
 * of the group's desired size (rounded down, at least 1), replaced within `window`. The smaller wins.
 */
export const ReplacementBudgetConfig = Schema.Struct({
  maxReplacements: Schema.optional(
    Schema.Number.pipe(
      Schema.int(),
      Schema.greaterThanOrEqualTo(1, {
        message: () => "maxReplacements must be at least 1: a budget of 0 would never replace anything"
      })
    )
  ),
  maxPercent: Schema.optionalWith(
    Schema.Number.pipe(
      Schema.between(1, 100, { message: () => "maxPercent must be between 1 and 100 (a percentage)" })
    ),
    { default: () => 50 }
  ),
  window: Schema.optionalWith(DurationText, { default: () => Duration.minutes(10) })
})

/** The type of `ReplacementBudgetConfig`. */
export type ReplacementBudgetConfig = typeof ReplacementBudgetConfig.Type

/** A broken cross-field rule of one group: the path inside the group and what to change. */
export interface RuleIssue {
  readonly path: ReadonlyArray<string>
  readonly message: string
}

/**
 * The cross-field rules of a group, on whichever parts decoded: eligible age below forced age, and
 * a positive health interval. Every broken rule is returned (not just the first), so a file with
 * several mistakes gets them all in one report, also when other fields of the group are invalid.
 */
export const ruleIssues = (group: {
  readonly expiry?: ExpiryConfig | undefined
  readonly healthInterval?: Duration.Duration | undefined
}): ReadonlyArray<RuleIssue> => {
  const issues: Array<RuleIssue> = []
  const eligibleAge = group.expiry?.eligibleAge
  const forcedAge = group.expiry?.forcedAge
  if (
    eligibleAge !== undefined &&
    forcedAge !== undefined &&
    Duration.greaterThanOrEqualTo(eligibleAge, forcedAge)
  ) {
    issues.push({
      path: ["expiry", "eligibleAge"],
      message: `eligibleAge (${Duration.format(eligibleAge)}) must be less than forcedAge (${Duration.format(forcedAge)}): lower eligibleAge or raise forcedAge`
    })
  }
  if (group.healthInterval !== undefined && Duration.isZero(group.healthInterval)) {
    issues.push({
      path: ["healthInterval"],
      message: "healthInterval must be positive: instances report health once per interval"
    })
  }
  return issues
}

/** A managed group as written in the config file, with its defaults applied. */
export const GroupConfig = Schema.Struct({
  tenant: Schema.optionalWith(Schema.NonEmptyTrimmedString, { default: () => "default" }),
  key: Schema.NonEmptyTrimmedString,
  desiredSize: NonNegativeInt("desiredSize", "use 0 or more instances"),
  maxSurge: Schema.optionalWith(NonNegativeInt("maxSurge", "use 0 or more extra instances"), {
    default: () => 1
  }),
  healthInterval: Schema.optionalWith(DurationText, { default: () => Duration.seconds(60) }),
  drainTimeout: Schema.optionalWith(DurationText, { default: () => Duration.minutes(5) }),
  expiry: Schema.optionalWith(ExpiryConfig, { default: () => ({}) }),
  replacementBudget: Schema.optionalWith(ReplacementBudgetConfig, {
    default: () => ({ maxPercent: 50, window: Duration.minutes(10) })
  }),
  template: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), {
    default: () => ({})
  })
}).pipe(
  Schema.filter((group) => ruleIssues(group).map((issue) => ({ path: issue.path, message: issue.message })))
)

/** The type of `GroupConfig`. */
export type GroupConfig = typeof GroupConfig.Type
