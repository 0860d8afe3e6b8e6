/**
 * What the manager reports at `/status`: leadership, each group (desired / actual / healthy /
 * draining, whether its replacement breaker is open, its last error), the durable event queue
 * (pending events, its capacity, whether it is full), what happened to events, and the last
 * errors. Create rate-limit waits are a histogram at `/metrics`. Reducers here are pure; the
 * manager applies them to a core `Status`.
 */
import { Schema } from "effect"
import type { EventTally } from "./reconciler/EventHandling.js"
import type { NotifyError } from "./reconciler/Notifier.js"

/** One group's figures after its last pass. */
export const GroupStatus = Schema.Struct({
  tenant: Schema.String,
  group: Schema.String,
  desired: Schema.Number,
  /** Instances not deleted (draining ones included). */
  actual: Schema.Number,
  /** Running, reporting and not marked unhealthy. */
  healthy: Schema.Number,
  draining: Schema.Number,
  deleted: Schema.Boolean,
  /** The replacement budget is used up: no more health, expiry or drift replacements this window. */
  breakerOpen: Schema.Boolean,
  lastError: Schema.NullOr(Schema.String)
})

/** The type of `GroupStatus`. */
export type GroupStatus = typeof GroupStatus.Type

/** An error as the status keeps it. */
export const ErrorEntry = Schema.Struct({
  tenant: Schema.String,
  group: Schema.String,
  instanceId: Schema.String,
  message: Schema.String,
  at: Schema.Date
})

/** The whole status. */
export const ManagerStatus = Schema.Struct({
  leader: Schema.Boolean,
  term: Schema.Number,
  groups: Schema.Record({ key: Schema.String, value: GroupStatus }),
  /** The durable event queue (`im_events`); the controller's own queue is `converge_workqueue_depth`. */
  queue: Schema.Struct({
    pendingEvents: Schema.Number,
    capacity: Schema.Number,
    full: Schema.Boolean
  }),
  events: Schema.Struct({
    handled: Schema.Number,
    discarded: Schema.Number,
    skipped: Schema.Number,
    failed: Schema.Number,
    retried: Schema.Number
  }),
  errorsTotal: Schema.Number,
  lastErrors: Schema.Array(ErrorEntry)
})

/** The type of `ManagerStatus`. */
export type ManagerStatus = typeof ManagerStatus.Type

/** How many errors the status keeps. */
export const keptErrors = 20

/** The status before anything ran. */
export const initial = (capacity: number): ManagerStatus => ({
  leader: false,
  term: 0,
  groups: {},
  queue: { pendingEvents: 0, capacity, full: false },
  events: { handled: 0, discarded: 0, skipped: 0, failed: 0, retried: 0 },
  errorsTotal: 0,
  lastErrors: []
})

/** The key of a group in `groups`. */
export const groupKey = (tenant: string, group: string): string => `${tenant}/${group}`

/** Replaces one group's figures, keeping its last error unless the pass saw a new one. */
export const withGroup = (status: ManagerStatus, group: Omit<GroupStatus, "lastError">): ManagerStatus => {
  const key = groupKey(group.tenant, group.group)
  return {
    ...status,
    groups: { ...status.groups, [key]: { ...group, lastError: status.groups[key]?.lastError ?? null } }
  }
}

/** Adds an error: counted, kept among the last ones, and shown on its group. */
export const withError = (status: ManagerStatus, error: NotifyError): ManagerStatus => {
  const key = groupKey(error.tenant, error.group)
  const current = status.groups[key]
  return {
    ...status,
    errorsTotal: status.errorsTotal + 1,
    lastErrors: [...status.lastErrors, { ...error }].slice(-keptErrors),
    groups:
      current === undefined
        ? status.groups
        : { ...status.groups, [key]: { ...current, lastError: error.message } }
  }
}

/** Adds a pass's event outcomes. */
export const withEvents = (status: ManagerStatus, tally: EventTally): ManagerStatus => ({
  ...status,
  events: {
    handled: status.events.handled + tally.handled,
    discarded: status.events.discarded + tally.discarded,
    skipped: status.events.skipped + tally.skipped,
    failed: status.events.failed + tally.failed,
    retried: status.events.retried + tally.retried
  }
})
