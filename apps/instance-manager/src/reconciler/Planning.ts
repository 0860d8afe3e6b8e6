/**
 * The pure decisions of a group pass: which instances count, which to remove first on scale-down,
 * which one to expire or rotate, how many replacements the budget allows, and when the group must
 * be looked at again. No I/O here, so each rule is tested on its own.
 */
import { Duration } from "effect"
import type { GroupConfig } from "../config/GroupConfig.js"
import type { InstanceRecord } from "../state/InstanceStore.js"

/** Why an instance is replaced. Reasons in `budgeted` count against the replacement budget. */
export type ReplaceReason =
  | "missed-health-reports"
  | "disconnected"
  | "termination-notice"
  | "forced-expiry"
  | "eligible-expiry"
  | "drift"

/** Replacements the budget limits: those of instances that may still be serving. */
export const budgeted: ReadonlyArray<ReplaceReason> = [
  "missed-health-reports",
  "disconnected",
  "forced-expiry",
  "eligible-expiry",
  "drift"
]

/** Unhealthy reasons after which the instance is gone for good: replaced without drain. */
export const deadReasons: ReadonlyArray<string> = ["gone", "terminal"]

/** Counts toward the desired size: `pending` or `running`. */
export const isActive = (instance: InstanceRecord): boolean =>
  instance.state === "pending" || instance.state === "running"

/** Known to be dead (gone or terminal at the provider). */
export const isDead = (instance: InstanceRecord): boolean =>
  instance.unhealthyReason !== null && deadReasons.includes(instance.unhealthyReason)

/** When the instance last showed life: its last health report, else its creation. */
export const lastSeen = (instance: InstanceRecord): number =>
  (instance.lastHealthAt ?? instance.createdAt).getTime()

/**
 * Scale-down order: unhealthy first, then pending, then oldest; the first `count` of these go.
 * An unhealthy or pending instance serves least, so removing it costs least.
 */
export const scaleDownVictims = (
  active: ReadonlyArray<InstanceRecord>,
  count: number
): ReadonlyArray<InstanceRecord> => {
  const rank = (instance: InstanceRecord) =>
    instance.unhealthyAt !== null ? 0 : instance.state === "pending" ? 1 : 2
  return [...active]
    .sort(
      (a, b) => rank(a) - rank(b) || a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1)
    )
    .slice(0, Math.max(0, count))
}

/** Replacements the budget allows per window: `maxReplacements`, or `maxPercent` of desired (at least 1); the smaller. */
export const replacementAllowance = (spec: GroupConfig, desired: number): number => {
  const byPercent = Math.max(1, Math.floor((desired * spec.replacementBudget.maxPercent) / 100))
  return Math.min(spec.replacementBudget.maxReplacements ?? Number.POSITIVE_INFINITY, byPercent)
}

/** Instances that should be replaced with a drain for failing health, oldest problem first. */
export const unhealthyToReplace = (active: ReadonlyArray<InstanceRecord>): ReadonlyArray<InstanceRecord> =>
  active
    .filter((instance) => instance.unhealthyAt !== null && !isDead(instance))
    .sort((a, b) => (a.unhealthyAt?.getTime() ?? 0) - (b.unhealthyAt?.getTime() ?? 0))

/**
 * The one instance to expire this pass, if any: the oldest past `forcedAge` (always), else the
 * oldest past `eligibleAge` but only while nothing in the group drains.
 */
export const expiryCandidate = (
  spec: GroupConfig,
  active: ReadonlyArray<InstanceRecord>,
  anyDraining: boolean,
  now: number
):
  | { readonly instance: InstanceRecord; readonly reason: "forced-expiry" | "eligible-expiry" }
  | undefined => {
  const oldestPast = (age: Duration.Duration | undefined) =>
    age === undefined
      ? undefined
      : active
          .filter(
            (instance) =>
              instance.state === "running" && now - instance.createdAt.getTime() >= Duration.toMillis(age)
          )
          .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())[0]
  const forced = oldestPast(spec.expiry.forcedAge)
  if (forced !== undefined) return { instance: forced, reason: "forced-expiry" }
  if (anyDraining) return undefined
  const eligible = oldestPast(spec.expiry.eligibleAge)
  return eligible === undefined ? undefined : { instance: eligible, reason: "eligible-expiry" }
}

/** The one instance to rotate for drift, if any: the oldest running one on another template, never while one drains. */
export const driftCandidate = (
  templateHash: string,
  active: ReadonlyArray<InstanceRecord>,
  anyDraining: boolean
): InstanceRecord | undefined =>
  anyDraining
    ? undefined
    : active
        .filter((instance) => instance.state === "running" && instance.templateHash !== templateHash)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())[0]

/** The next health tick of an instance: the next whole interval after it was last seen. */
export const nextHealthTick = (instance: InstanceRecord, interval: number, now: number): number => {
  const seen = lastSeen(instance)
  return seen + (Math.floor((now - seen) / interval) + 1) * interval
}

/**
 * When the group must be looked at again without any outside change: the earliest of its next
 * event, drain deadlines, health ticks and expiry ages, or `undefined` when nothing is scheduled.
 */
export const nextWakeup = (
  spec: GroupConfig,
  instances: ReadonlyArray<InstanceRecord>,
  nextEventDue: number | undefined,
  now: number
): number | undefined => {
  const interval = Duration.toMillis(spec.healthInterval)
  const times: Array<number> = nextEventDue === undefined ? [] : [nextEventDue]
  for (const instance of instances) {
    if (instance.state === "draining" && instance.deleteAt !== null) times.push(instance.deleteAt.getTime())
    if ((isActive(instance) || instance.state === "draining") && instance.providerId !== null) {
      times.push(nextHealthTick(instance, interval, now))
    }
    if (isActive(instance) && instance.providerId !== null) {
      for (const age of [spec.expiry.eligibleAge, spec.expiry.forcedAge]) {
        if (age === undefined) continue
        const due = instance.createdAt.getTime() + Duration.toMillis(age)
        if (due > now) times.push(due)
      }
    }
  }
  return times.length === 0 ? undefined : Math.min(...times)
}
