/**
 * The instance manager: the group controller (core `Controller`, one key per group), leadership
 * handling, termination notices from the provider, the status, and the operations the HTTP API
 * and CLI offer (health reports, drain acks, notices, desired sizes).
 *
 * ```text
 *   config groups ──upsert──▶ im_groups ◀── setDesired / deleteGroup
 *   API: health, disconnect, drain-ack, notice ──fact + event──▶ im_instances / im_events ─┐
 *   provider termination notices ─────────────────────────────────────────────────────────┤ enqueue(group)
 *   leadership acquired ──listAll (paged, once per term); every group (first pass in the ──┤
 *                         term: InitialReconcile, the rebuild from that listing)           │
 *                                                                                          ▼
 *                     Controller(concurrency, retry = create policy, while leader) ──▶ GroupReconciler pass
 * ```
 *
 * The composition root supplies the `Provider`, the `LeaderGate` (Postgres in production), the
 * `Fence` on the same lock key, and the database.
 */
import { Controller, LeaderGate, Observer, Status } from "@converge/core"
import { SqlState } from "@converge/pg"
import type { SqlClient, SqlError } from "@effect/sql"
import { Cause, Clock, Data, Effect, Option, Predicate, type Scope, Stream } from "effect"
import type { GroupConfig } from "./config/GroupConfig.js"
import type { ManagerConfig } from "./config/ManagerConfig.js"
import type { EventType } from "./EventType.js"
import * as ManagerStatus from "./ManagerStatus.js"
import { Provider } from "./provider/Provider.js"
import { CreateRateLimit, make as makeCreateRateLimit } from "./reconciler/CreateRateLimit.js"
import * as GroupKey from "./reconciler/GroupKey.js"
import * as GroupReconciler from "./reconciler/GroupReconciler.js"
import * as Notifier from "./reconciler/Notifier.js"
import * as RebuildSnapshot from "./reconciler/RebuildSnapshot.js"
import * as EventStore from "./state/EventStore.js"
import type { Fence } from "./state/Fence.js"
import * as GroupStore from "./state/GroupStore.js"
import * as InstanceStore from "./state/InstanceStore.js"

/** No live instance has this id. */
export class UnknownInstance extends Data.TaggedError("UnknownInstance")<{
  readonly instanceId: string
  readonly message: string
}> {}

/** No live group has this tenant and key. */
export class UnknownGroup extends Data.TaggedError("UnknownGroup")<{
  readonly tenant: string
  readonly group: string
  readonly message: string
}> {}

/** A running instance manager. */
export interface InstanceManager {
  /** The group controller (its `awaitIdle`, `depth`, `enqueue`). */
  readonly controller: Controller.Controller<GroupKey.GroupKey>
  /** The status snapshot (`/status`). */
  readonly status: Status.Status<ManagerStatus.ManagerStatus, typeof ManagerStatus.ManagerStatus.Encoded>
  /** An agent heartbeat. */
  readonly reportHealth: (instanceId: string) => Effect.Effect<void, UnknownInstance | SqlError.SqlError>
  /** The agent's connection dropped: follow-up checks until it reports again. */
  readonly reportDisconnect: (
    instanceId: string
  ) => Effect.Effect<void, UnknownInstance | EventStore.EventQueueFull | SqlError.SqlError>
  /** The operator acknowledged a drain (idempotent). */
  readonly drainAck: (
    instanceId: string
  ) => Effect.Effect<void, UnknownInstance | EventStore.EventQueueFull | SqlError.SqlError>
  /** The provider or the instance announced its termination (idempotent). */
  readonly terminationNotice: (
    instanceId: string
  ) => Effect.Effect<void, UnknownInstance | EventStore.EventQueueFull | SqlError.SqlError>
  /** Sets a group's desired size. */
  readonly setDesired: (
    tenant: string,
    group: string,
    desiredSize: number
  ) => Effect.Effect<void, UnknownGroup | EventStore.EventQueueFull | SqlError.SqlError>
  /** Creates or replaces a group's settings (a changed template rotates its instances). */
  readonly putGroup: (
    group: GroupConfig
  ) => Effect.Effect<void, EventStore.EventQueueFull | SqlError.SqlError>
  /** Deletes a group: it scales to zero. */
  readonly deleteGroup: (
    tenant: string,
    group: string
  ) => Effect.Effect<void, UnknownGroup | EventStore.EventQueueFull | SqlError.SqlError>
}

/** What the manager needs from its composition root. */
export type ManagerServices =
  | SqlClient.SqlClient
  | Fence
  | Provider
  | LeaderGate.LeaderGate
  | Notifier.Notifier
  | Scope.Scope

const describeFailure = (error: unknown): string => {
  if (Predicate.isTagged(error, "SqlError")) return SqlState.classify(error).message
  return Predicate.hasProperty(error, "message") ? String(error.message) : String(error)
}

const isProviderError = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && String(error._tag).startsWith("Provider")

/**
 * Starts the manager: upserts the config's groups (groups stored but no longer configured are
 * deleted, so they scale to zero), then runs the group controller while leader. It stops with its scope.
 */
export const make = (
  config: ManagerConfig
): Effect.Effect<InstanceManager, SqlError.SqlError, ManagerServices> =>
  Effect.gen(function* () {
    const gate = yield* LeaderGate.LeaderGate
    const provider = yield* Provider
    const userNotifier = yield* Notifier.Notifier
    const status = yield* Status.make(
      ManagerStatus.ManagerStatus,
      ManagerStatus.initial(config.eventQueueCapacity)
    )
    const statusNotifier: Notifier.Notifier.Service = {
      notifyDrain: () => Effect.void,
      notifyError: (error) => status.update((current) => ManagerStatus.withError(current, error))
    }
    const notifier = Notifier.both(userNotifier, statusNotifier)
    const createRateLimit = yield* makeCreateRateLimit(config.createRateLimit)
    const rebuildSnapshot = yield* RebuildSnapshot.make(notifier)
    const now = () => Effect.map(Clock.currentTimeMillis, (millis) => new Date(millis))

    const startedAt = yield* now()
    const configured = new Set(config.groups.map((group) => GroupKey.make(group.tenant, group.key)))
    for (const group of config.groups) yield* GroupStore.upsert(group, startedAt)
    for (const stored of yield* GroupStore.list) {
      if (!configured.has(GroupKey.make(stored.tenant, stored.key))) {
        yield* GroupStore.markDeleted(stored.tenant, stored.key, startedAt)
      }
    }

    const passes = GroupReconciler.make(
      { retry: config.retry, eventQueueCapacity: config.eventQueueCapacity },
      status
    )
    const reconcile = (key: GroupKey.GroupKey) =>
      passes
        .reconcile(key)
        .pipe(
          Effect.provideService(Notifier.Notifier, notifier),
          Effect.provideService(CreateRateLimit, createRateLimit),
          Effect.provideService(RebuildSnapshot.RebuildSnapshot, rebuildSnapshot)
        )

    const controllerObserver = Observer.make(
      (event: Controller.ControllerEvent<GroupKey.GroupKey, unknown>) => {
        if (event._tag !== "ReconcileFailed" && event._tag !== "ReconcileTerminal") return Effect.void
        const error = Cause.squash(event.cause)
        // Provider failures were reported where they happened, with their instance.
        if (isProviderError(error)) return Effect.void
        const { tenant, group } = GroupKey.parse(event.key)
        return Effect.flatMap(now(), (at) =>
          notifier.notifyError({
            tenant,
            group,
            instanceId: "",
            message: `group pass failed: ${describeFailure(error)}`,
            at
          })
        )
      }
    )

    const controller = yield* Controller.make({
      name: "instance-manager",
      reconcile,
      concurrency: config.concurrency,
      retryPolicy: config.retry.create,
      rateLimit: false,
      observer: controllerObserver,
      resync: {
        every: "5 minutes",
        // Gaining leadership enqueues every group (`acquire` below); a resync at start too would
        // give a group a second start-up pass whenever the two enqueues land apart.
        atStart: false,
        keys: Effect.map(GroupStore.list, (groups) =>
          groups.map((group) => GroupKey.make(group.tenant, group.key))
        )
      }
    })

    const enqueueEvent = (
      type: EventType,
      tenant: string,
      group: string,
      instanceId: string,
      cause: string
    ): Effect.Effect<void, EventStore.EventQueueFull | SqlError.SqlError> =>
      Effect.gen(function* () {
        const term = yield* gate.term
        const createdAt = yield* now()
        yield* EventStore.enqueue(
          { type, tenant, group, instanceId, cause, term, createdAt },
          config.eventQueueCapacity
        ).pipe(
          Effect.tapError((error) =>
            error._tag === "EventQueueFull"
              ? status.update((current) => ({ ...current, queue: { ...current.queue, full: true } }))
              : Effect.void
          )
        )
        yield* controller.enqueue(GroupKey.make(tenant, group))
      }).pipe(Effect.provide(sqlContext))

    const sqlContext = yield* Effect.context<SqlClient.SqlClient>()

    const liveInstance = (instanceId: string) =>
      Effect.flatMap(InstanceStore.get(instanceId), (found) =>
        Option.isSome(found) && found.value.state !== "deleted"
          ? Effect.succeed(found.value)
          : Effect.fail(
              new UnknownInstance({
                instanceId,
                message: `No live instance "${instanceId}": check the id with \`converge-instances instances list\``
              })
            )
      ).pipe(Effect.provide(sqlContext))

    const instanceEvent =
      (
        type: EventType,
        record: (id: string, at: Date) => Effect.Effect<boolean, SqlError.SqlError, SqlClient.SqlClient>,
        cause: string
      ) =>
      (instanceId: string) =>
        Effect.gen(function* () {
          const instance = yield* liveInstance(instanceId)
          yield* record(instanceId, yield* now()).pipe(Effect.provide(sqlContext))
          yield* enqueueEvent(type, instance.tenant, instance.groupKey, instanceId, cause)
        })

    // The term's listing of every instance starts at once (one API call per page); every group
    // gets a pass, and its first pass in the new term stores and handles its `InitialReconcile`
    // (the rebuild from its entry in that listing) before acting (see `GroupReconciler`).
    const acquire = Effect.gen(function* () {
      const term = yield* gate.term
      yield* status.update((current) => ({ ...current, leader: true, term }))
      yield* rebuildSnapshot.start(term)
      for (const group of yield* GroupStore.list) {
        yield* controller.enqueue(GroupKey.make(group.tenant, group.key))
      }
    })

    yield* Effect.forkScoped(
      Stream.runForEach(gate.isLeader.changes, (leader) =>
        leader ? acquire : status.update((current) => ({ ...current, leader: false }))
      ).pipe(Effect.catchAllCause((cause) => Effect.logError("following leadership failed", cause)))
    )

    yield* Effect.forkScoped(
      Stream.runForEach(provider.terminationNotices, (notice) =>
        Effect.gen(function* () {
          const at = yield* now()
          if (!(yield* InstanceStore.recordTerminationNotice(notice.instanceId, at))) return
          yield* EventStore.enqueueWaiting(
            {
              type: "TerminationNotice",
              tenant: notice.tenant,
              group: notice.group,
              instanceId: notice.instanceId,
              cause: "provider notice",
              term: yield* gate.term,
              createdAt: at
            },
            config.eventQueueCapacity
          )
          yield* controller.enqueue(GroupKey.make(notice.tenant, notice.group))
        }).pipe(
          Effect.catchAllCause((cause) => Effect.logError("recording a termination notice failed", cause))
        )
      )
    )

    const groupChanged = (tenant: string, group: string) =>
      enqueueEvent("GroupChanged", tenant, group, "", "group changed")
    const unknownGroup = (tenant: string, group: string) =>
      new UnknownGroup({
        tenant,
        group,
        message: `No live group "${group}" in tenant "${tenant}": add it to the config file first`
      })

    return {
      controller,
      status,
      reportHealth: (instanceId) =>
        Effect.gen(function* () {
          const known = yield* InstanceStore.recordHealth(instanceId, yield* now())
          if (!known) {
            return yield* new UnknownInstance({
              instanceId,
              message: `No live instance "${instanceId}": an agent reports under the id it was created with`
            })
          }
        }).pipe(Effect.provide(sqlContext)),
      reportDisconnect: instanceEvent("CheckInstance", InstanceStore.recordDisconnect, "disconnect"),
      drainAck: instanceEvent("DrainAcked", InstanceStore.recordDrainAck, "drain acknowledged"),
      terminationNotice: instanceEvent(
        "TerminationNotice",
        InstanceStore.recordTerminationNotice,
        "termination notice"
      ),
      setDesired: (tenant, group, desiredSize) =>
        Effect.gen(function* () {
          const updated = yield* GroupStore.setDesired(tenant, group, desiredSize, yield* now()).pipe(
            Effect.provide(sqlContext)
          )
          if (Option.isNone(updated)) return yield* unknownGroup(tenant, group)
          yield* groupChanged(tenant, group)
        }),
      putGroup: (group) =>
        Effect.gen(function* () {
          const changed = yield* GroupStore.upsert(group, yield* now()).pipe(Effect.provide(sqlContext))
          if (changed) yield* groupChanged(group.tenant, group.key)
        }),
      deleteGroup: (tenant, group) =>
        Effect.gen(function* () {
          const deleted = yield* GroupStore.markDeleted(tenant, group, yield* now()).pipe(
            Effect.provide(sqlContext)
          )
          if (!deleted) return yield* unknownGroup(tenant, group)
          yield* groupChanged(tenant, group)
        })
    } satisfies InstanceManager
  })
