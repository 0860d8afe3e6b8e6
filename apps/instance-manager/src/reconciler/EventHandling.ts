/**
 * Handling a group's due events at the start of its pass. Each event ends in one recorded outcome:
 *
 * - created under an older leadership term → `discarded` (counted, never handled);
 * - `preventDuplicate` and the same (type, group, instance) succeeded within the window → `skipped`;
 * - handled → `succeeded` (and remembered for `preventDuplicate`);
 * - failed → retried later by its type's `RetryPolicy`, or `failed` (permanent error, or attempts
 *   used up) and reported through `NotifyError`.
 *
 * Handlers record facts on the instance rows; the level-triggered pass acts on them.
 */
import { RetryPolicy } from "@converge/core"
import type { SqlClient, SqlError } from "@effect/sql"
import { Duration, Effect, Option } from "effect"
import * as RetryConfig from "../config/RetryConfig.js"
import { isTerminal, Provider, type ProviderError, ProviderRetryableError } from "../provider/Provider.js"
import * as EventStore from "../state/EventStore.js"
import type { Fence, FenceError } from "../state/Fence.js"
import * as InstanceStore from "../state/InstanceStore.js"
import { Notifier } from "./Notifier.js"
import type { PassContext } from "./PassContext.js"
import * as Planning from "./Planning.js"
import * as Rebuild from "./Rebuild.js"
import type { RebuildSnapshot } from "./RebuildSnapshot.js"

/** What happened to the events of one pass. */
export interface EventTally {
  handled: number
  discarded: number
  skipped: number
  failed: number
  retried: number
}

type HandlerError = ProviderError | FenceError

type Services = SqlClient.SqlClient | Fence | Provider | Notifier | RebuildSnapshot

/**
 * Asks the provider about an instance: gone or terminal marks it dead (replaced without drain);
 * silent for 3 health intervals marks it unhealthy (replaced with drain). After a disconnect, a
 * follow-up check is scheduled by the `followUp` policy until the instance reports again.
 */
const checkInstance = (context: PassContext, event: EventStore.EventRecord) =>
  Effect.gen(function* () {
    const provider = yield* Provider
    const found = yield* InstanceStore.get(event.instanceId)
    if (Option.isNone(found) || found.value.state === "deleted" || found.value.providerId === null) return
    const instance = found.value
    const interval = Duration.toMillis(context.group.spec.healthInterval)
    const described = yield* provider.describe(instance.providerId ?? "").pipe(
      Effect.timeoutFail({
        duration: Duration.seconds(5),
        onTimeout: () =>
          new ProviderRetryableError({
            operation: "describe",
            message: "the provider did not answer describe within 5 seconds"
          })
      })
    )
    const mark = (reason: string) =>
      instance.unhealthyReason === reason
        ? Effect.void
        : InstanceStore.update(context.term, instance.id, {
            unhealthy_at: context.now,
            unhealthy_reason: reason
          })
    if (Option.isNone(described)) return yield* mark("gone")
    if (isTerminal(described.value.state)) return yield* mark("terminal")
    if (instance.state === "pending" && described.value.state === "running") {
      yield* InstanceStore.update(context.term, instance.id, { state: "running" })
    }
    const silentFor = context.now.getTime() - Planning.lastSeen(instance)
    if (event.cause === "disconnect" && instance.disconnectedAt !== null) {
      const followUp = context.settings.retry.followUp
      const next = event.attempt + 1
      if (RetryPolicy.hasAttemptsLeft(followUp, next)) {
        const wait = yield* RetryPolicy.sampleDelay(followUp, next)
        yield* EventStore.enqueueWaiting(
          {
            type: "CheckInstance",
            tenant: event.tenant,
            group: event.group,
            instanceId: event.instanceId,
            cause: "disconnect",
            attempt: next,
            term: context.term,
            createdAt: context.now,
            dueAt: new Date(context.now.getTime() + Duration.toMillis(wait))
          },
          context.settings.eventQueueCapacity
        )
        return
      }
      return yield* mark("disconnected")
    }
    if (silentFor >= 3 * interval) return yield* mark("missed-health-reports")
  })

const handle = (
  context: PassContext,
  event: EventStore.EventRecord
): Effect.Effect<void, HandlerError, Services> => {
  switch (event.type) {
    case "InitialReconcile":
      return Rebuild.fromProvider(context)
    case "GroupChanged":
      return Effect.void
    case "CheckInstance":
      return checkInstance(context, event)
    case "InstanceDeleted":
      return Effect.flatMap(InstanceStore.get(event.instanceId), (found) =>
        Option.isSome(found) && found.value.state !== "deleted"
          ? InstanceStore.update(context.term, event.instanceId, {
              unhealthy_at: context.now,
              unhealthy_reason: "gone"
            })
          : Effect.void
      )
    case "DrainAcked":
      return Effect.asVoid(InstanceStore.recordDrainAck(event.instanceId, context.now))
    case "TerminationNotice":
      return Effect.asVoid(InstanceStore.recordTerminationNotice(event.instanceId, context.now))
  }
}

const describeError = (error: HandlerError): string => error.message

/** Handles the group's due events in order; returns what happened to them. Fails only on database errors. */
export const handleDue = (context: PassContext): Effect.Effect<EventTally, SqlError.SqlError, Services> =>
  Effect.gen(function* () {
    const notifier = yield* Notifier
    const { tenant, key } = context.group
    const tally: EventTally = { handled: 0, discarded: 0, skipped: 0, failed: 0, retried: 0 }
    const window = new Date(context.now.getTime() - 2 * Duration.toMillis(context.group.spec.healthInterval))
    for (const event of yield* EventStore.due(tenant, key, context.now)) {
      if (event.term < context.term) {
        yield* EventStore.discard(
          event,
          context.now,
          `created under leadership term ${event.term}; the current term is ${context.term}`
        )
        tally.discarded++
        continue
      }
      if (yield* EventStore.isDuplicate(event, window)) {
        yield* EventStore.skip(event, context.now)
        tally.skipped++
        continue
      }
      const outcome = yield* Effect.either(handle(context, event))
      if (outcome._tag === "Right") {
        yield* EventStore.succeed(event, context.now)
        tally.handled++
        continue
      }
      const error = outcome.left
      if (error._tag === "SqlError") return yield* error
      const policy = RetryConfig.forEvent(context.settings.retry, event.type)
      const failedAttempts = event.attempt + 1
      const message = `${event.type} (attempt ${failedAttempts}) failed: ${describeError(error)}`
      if (RetryPolicy.isRetryable(policy, error) && RetryPolicy.hasAttemptsLeft(policy, failedAttempts)) {
        const planned = yield* RetryPolicy.sampleDelay(policy, failedAttempts)
        const wait =
          error._tag === "ProviderThrottledError" ? Duration.max(planned, error.retryAfter) : planned
        yield* EventStore.retryLater(
          event,
          failedAttempts,
          new Date(context.now.getTime() + Duration.toMillis(wait)),
          message
        )
        tally.retried++
      } else {
        yield* EventStore.fail(event, context.now, message)
        tally.failed++
      }
      yield* notifier.notifyError({
        tenant,
        group: key,
        instanceId: event.instanceId,
        message,
        at: context.now
      })
    }
    return tally
  })
