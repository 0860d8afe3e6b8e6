/**
 * The group reconciler: one level-triggered pass per group key, run by the core `Controller`
 * (so a group is never reconciled twice at once, and groups proceed in parallel).
 *
 * ```text
 *   pass(tenant/group), term = the gate's term
 *     0. the group's first pass in this term stores its InitialReconcile (rebuild from the provider:
 *        the group's entry in the term's paginated listing, see RebuildSnapshot)
 *     1. schedule health checks for instances silent for an interval   (CheckInstance events)
 *     2. handle the group's due events (term discard, preventDuplicate, per-type retry)
 *     3. deleted group → delete everything; else:
 *        dead (gone / terminal)          → delete at once (no drain); scaling replaces it
 *        draining and acked / due / dead → delete
 *        termination notice              → replace with drain (outside the budget)
 *        unhealthy                       → replace with drain, within the replacement budget
 *        expiry (forced, or eligible when nothing drains), then drift (none while draining)
 *                                        → one replacement per pass, within the budget
 *        scale to desired                → creates (rate-limited, capped at desired + maxSurge,
 *                                          stop at the first failure) or deletes (unhealthy /
 *                                          pending first, then oldest)
 *     4. status, and the next wake-up (events, drain deadlines, health ticks, expiry ages),
 *        the delay counted from the end of the pass
 * ```
 *
 * A failed create fails the pass: the controller retries it by the `create` policy, and a
 * permanent provider error is terminal (not retried). Every failure is reported through
 * `NotifyError` and the status. Writes are fenced by the term the pass decided under.
 */
import { LeaderGate, Outcome, type Status } from "@converge/core"
import type { SqlClient, SqlError } from "@effect/sql"
import { Clock, Duration, Effect, Option } from "effect"
import * as ManagerStatus from "../ManagerStatus.js"
import type { Provider, ProviderError } from "../provider/Provider.js"
import * as EventStore from "../state/EventStore.js"
import type { Fence, FenceError } from "../state/Fence.js"
import * as GroupStore from "../state/GroupStore.js"
import * as InstanceStore from "../state/InstanceStore.js"
import type { CreateRateLimit } from "./CreateRateLimit.js"
import * as EventHandling from "./EventHandling.js"
import * as GroupKey from "./GroupKey.js"
import * as Lifecycle from "./Lifecycle.js"
import type { Notifier } from "./Notifier.js"
import type { PassContext, Settings } from "./PassContext.js"
import * as Planning from "./Planning.js"
import type { RebuildSnapshot } from "./RebuildSnapshot.js"

/** Why a pass failed: a provider call, a fenced write, or the database. */
export type PassError = ProviderError | FenceError | SqlError.SqlError

/** The services a pass needs. */
export type PassServices =
  | SqlClient.SqlClient
  | Fence
  | Provider
  | Notifier
  | CreateRateLimit
  | RebuildSnapshot
  | LeaderGate.LeaderGate

const scheduleHealthChecks = (context: PassContext, instances: ReadonlyArray<InstanceStore.InstanceRecord>) =>
  Effect.forEach(
    instances,
    (instance) => {
      const interval = Duration.toMillis(context.group.spec.healthInterval)
      const silentFor = context.now.getTime() - Planning.lastSeen(instance)
      // Draining instances are checked too: one that turns terminal mid-drain is deleted at once.
      const watched = Planning.isActive(instance) || instance.state === "draining"
      if (!watched || instance.providerId === null || silentFor < interval) return Effect.void
      const overdue = silentFor >= 3 * interval
      return EventStore.enqueueWaiting(
        {
          type: "CheckInstance",
          tenant: context.group.tenant,
          group: context.group.key,
          instanceId: instance.id,
          cause: overdue ? "health-reports-overdue" : "missed-health-report",
          // A suspicion is checked once per window; an overdue instance is always checked.
          preventDuplicate: !overdue,
          coalesce: true,
          term: context.term,
          createdAt: context.now
        },
        context.settings.eventQueueCapacity
      ).pipe(Effect.asVoid)
    },
    { discard: true }
  )

/** The group's live instance rows as a pass sees them: read once, read again only after a change. */
interface LiveView {
  readonly get: Effect.Effect<
    ReadonlyArray<InstanceStore.InstanceRecord>,
    SqlError.SqlError,
    SqlClient.SqlClient
  >
  /** The pass changed rows: the next `get` reads them again. */
  readonly invalidate: Effect.Effect<void>
}

const liveView = (tenant: string, key: string): LiveView => {
  let rows: ReadonlyArray<InstanceStore.InstanceRecord> | undefined
  return {
    get: Effect.suspend(() =>
      rows !== undefined
        ? Effect.succeed(rows)
        : Effect.tap(InstanceStore.listLive(tenant, key), (read) =>
            Effect.sync(() => {
              rows = read
            })
          )
    ),
    invalidate: Effect.sync(() => {
      rows = undefined
    })
  }
}

/** The pass's actions on the group; returns whether the replacement breaker is open. */
const act = (context: PassContext, view: LiveView): Effect.Effect<boolean, PassError, PassServices> =>
  Effect.gen(function* () {
    const { group } = context
    const spec = group.spec
    const deleted = group.deletedAt !== null
    const desired = deleted ? 0 : group.desiredSize
    const cap = desired + spec.maxSurge
    const live = () => view.get
    // Every action may change rows (even a failed one), so the view is read again after it.
    const changing = <A, E, R>(action: Effect.Effect<A, E, R>) => Effect.ensuring(action, view.invalidate)

    if (deleted) {
      for (const instance of yield* live()) yield* changing(Lifecycle.remove(context, instance))
      return false
    }

    for (const instance of yield* live()) {
      const drainOver =
        instance.state === "draining" &&
        (instance.drainAckedAt !== null ||
          (instance.deleteAt !== null && instance.deleteAt.getTime() <= context.now.getTime()))
      if (Planning.isDead(instance) || drainOver) yield* changing(Lifecycle.remove(context, instance))
    }

    for (const instance of (yield* live()).filter(Planning.isActive)) {
      if (instance.terminationNoticeAt === null) continue
      yield* changing(Lifecycle.replaceWithDrain(context, instance, "termination-notice", cap))
    }

    const allowance = Planning.replacementAllowance(spec, desired)
    const windowStart = new Date(context.now.getTime() - Duration.toMillis(spec.replacementBudget.window))
    let used = yield* InstanceStore.countReplacementsSince(
      group.tenant,
      group.key,
      windowStart,
      Planning.budgeted
    )
    let breakerOpen = false
    for (const instance of Planning.unhealthyToReplace((yield* live()).filter(Planning.isActive))) {
      if (used >= allowance) {
        breakerOpen = true
        break
      }
      const reason = instance.unhealthyReason === "disconnected" ? "disconnected" : "missed-health-reports"
      if (!(yield* changing(Lifecycle.replaceWithDrain(context, instance, reason, cap)))) break
      used++
    }

    const afterHealth = yield* live()
    const active = afterHealth.filter(Planning.isActive)
    const anyDraining = afterHealth.some((instance) => instance.state === "draining")
    const expiring = Planning.expiryCandidate(spec, active, anyDraining, context.now.getTime())
    const rotation =
      expiring ??
      Option.getOrUndefined(
        Option.map(
          Option.fromNullable(Planning.driftCandidate(group.templateHash, active, anyDraining)),
          (instance) => ({
            instance,
            reason: "drift" as const
          })
        )
      )
    if (rotation !== undefined) {
      if (used >= allowance) breakerOpen = true
      else yield* changing(Lifecycle.replaceWithDrain(context, rotation.instance, rotation.reason, cap))
    }

    // A drain timeout of 0 deletes at once, in the same pass.
    for (const instance of yield* live()) {
      if (
        instance.state === "draining" &&
        instance.deleteAt !== null &&
        instance.deleteAt.getTime() <= context.now.getTime()
      ) {
        yield* changing(Lifecycle.remove(context, instance))
      }
    }

    const counted = (yield* live()).filter(Planning.isActive)
    if (counted.length > desired) {
      for (const victim of Planning.scaleDownVictims(counted, counted.length - desired)) {
        yield* changing(Lifecycle.remove(context, victim))
      }
    }
    for (let missing = desired - counted.length; missing > 0; missing--) {
      if (Option.isNone(yield* changing(Lifecycle.create(context, cap)))) break
    }
    return breakerOpen
  })

/** How soon a pass that could not store its group's rebuild event (queue full) is retried. */
const rebuildRetryMillis = 1_000

/**
 * Builds the reconcile function of the group controller.
 *
 * The first pass of a group in a leadership term starts by storing the group's `InitialReconcile`
 * event (the rebuild from the provider) and handles it before acting, so no pass of a new leader
 * decides on the previous leader's view of the cloud — whichever way the key got queued (the
 * leadership change, the controller's start-up resync, an API call). Per-key exclusivity of the
 * controller makes that one event per group and term.
 */
export const make = (
  settings: Settings,
  status: Status.Status<ManagerStatus.ManagerStatus, typeof ManagerStatus.ManagerStatus.Encoded>
) => {
  const rebuiltInTerm = new Map<GroupKey.GroupKey, number>()
  /** Stores the group's rebuild event on its first pass in this term; `true` when it could not yet (queue full). */
  const startRebuild = (context: PassContext, key: GroupKey.GroupKey) =>
    Effect.gen(function* () {
      if (rebuiltInTerm.get(key) === context.term) return false
      const stored = yield* EventStore.enqueue(
        {
          type: "InitialReconcile",
          tenant: context.group.tenant,
          group: context.group.key,
          cause: "leadership acquired",
          term: context.term,
          createdAt: context.now
        },
        settings.eventQueueCapacity
      ).pipe(
        Effect.as(true),
        Effect.catchTag("EventQueueFull", () =>
          Effect.as(
            status.update((current) => ({ ...current, queue: { ...current.queue, full: true } })),
            false
          )
        )
      )
      if (stored) rebuiltInTerm.set(key, context.term)
      return !stored
    })
  const reconcile = (key: GroupKey.GroupKey): Effect.Effect<Outcome.Outcome, PassError, PassServices> =>
    Effect.gen(function* () {
      const gate = yield* LeaderGate.LeaderGate
      const term = yield* gate.term
      const now = new Date(yield* Clock.currentTimeMillis)
      const { tenant, group: groupName } = GroupKey.parse(key)
      const found = yield* GroupStore.get(tenant, groupName)
      if (Option.isNone(found)) return Outcome.done
      const context: PassContext = { group: found.value, term, now, settings }
      const group = found.value

      const rebuildPending = yield* startRebuild(context, key)
      const view = liveView(tenant, groupName)
      yield* scheduleHealthChecks(context, yield* view.get)
      // Handlers record facts on the rows (unhealthy, adopted, gone…).
      const tally = yield* Effect.ensuring(EventHandling.handleDue(context), view.invalidate)
      yield* status.update((current) => ManagerStatus.withEvents(current, tally))

      // Without its rebuild stored (the queue was full) the group is not acted on: the pass only
      // handles due events, which makes room, and comes back soon.
      const breakerOpen = rebuildPending
        ? ((yield* status.get).groups[ManagerStatus.groupKey(tenant, groupName)]?.breakerOpen ?? false)
        : yield* act(context, view)

      const instances = yield* view.get
      const interval = Duration.toMillis(group.spec.healthInterval)
      yield* status.update((current) =>
        ManagerStatus.withGroup(current, {
          tenant,
          group: groupName,
          desired: group.deletedAt === null ? group.desiredSize : 0,
          actual: instances.length,
          healthy: instances.filter(
            (instance) =>
              instance.state === "running" &&
              instance.unhealthyAt === null &&
              now.getTime() - Planning.lastSeen(instance) < 3 * interval
          ).length,
          draining: instances.filter((instance) => instance.state === "draining").length,
          deleted: group.deletedAt !== null,
          breakerOpen
        })
      )

      const pendingEvents = yield* EventStore.pendingCount
      yield* status.update((current) => ({
        ...current,
        queue: { ...current.queue, pendingEvents, full: pendingEvents >= settings.eventQueueCapacity }
      }))

      const nextEvent = yield* EventStore.nextDue(tenant, groupName)
      const wakeup = Planning.nextWakeup(
        group.spec,
        instances,
        Option.getOrUndefined(Option.map(nextEvent, (date) => date.getTime())),
        now.getTime()
      )
      // The rebuild event could not be stored (the queue was full): try again soon.
      const latest = rebuildPending
        ? Math.min(wakeup ?? Infinity, now.getTime() + rebuildRetryMillis)
        : wakeup
      if (latest === undefined)
        return group.deletedAt !== null && instances.length === 0 ? Outcome.done : Outcome.awaitChange
      // The delay runs from the end of the pass: measured from its start, every wake-up (health
      // ticks, drain deadlines, due events) would come late by the pass's own duration.
      const endedAt = yield* Clock.currentTimeMillis
      return Outcome.requeueAfter(Duration.millis(Math.max(0, latest - endedAt)))
    }).pipe(Effect.annotateLogs("group", key))
  return { reconcile }
}
