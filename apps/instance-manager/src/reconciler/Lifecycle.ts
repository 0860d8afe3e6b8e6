/**
 * The actions of a pass on single instances: create one (rate-limited, surge-capped, fenced),
 * delete one, and replace one with a drain (replacement first). Every failure is reported through
 * `NotifyError` before it propagates.
 */
import type { SqlClient } from "@effect/sql"
import { Duration, Effect, Option } from "effect"
import { Provider, type ProviderError } from "../provider/Provider.js"
import type { Fence, FenceError } from "../state/Fence.js"
import * as InstanceStore from "../state/InstanceStore.js"
import { CreateRateLimit } from "./CreateRateLimit.js"
import { Notifier } from "./Notifier.js"
import type { PassContext } from "./PassContext.js"
import type { ReplaceReason } from "./Planning.js"

/** The services the actions use. */
export type LifecycleServices = SqlClient.SqlClient | Fence | Provider | Notifier | CreateRateLimit

const reportFailure =
  (context: PassContext, instanceId: string, what: string) => (error: ProviderError | FenceError) =>
    Effect.flatMap(Notifier, (notifier) =>
      notifier.notifyError({
        tenant: context.group.tenant,
        group: context.group.key,
        instanceId,
        message: `${what} failed: ${error.message}`,
        at: context.now
      })
    )

/**
 * Creates one instance unless the group already has `cap` live instances: takes a token from the
 * global create rate limit, reserves the slot (fenced, re-counted), then calls the provider.
 * `Some(id)` when created, `None` when the cap is reached. A failed create gives the slot back.
 */
export const create = (
  context: PassContext,
  cap: number
): Effect.Effect<Option.Option<string>, ProviderError | FenceError, LifecycleServices> =>
  Effect.gen(function* () {
    const provider = yield* Provider
    const rateLimit = yield* CreateRateLimit
    const { group } = context
    yield* rateLimit.take
    const reserved = yield* InstanceStore.reserve({
      tenant: group.tenant,
      group: group.key,
      templateHash: group.templateHash,
      cap,
      term: context.term,
      now: context.now
    })
    if (Option.isNone(reserved)) return reserved
    const id = reserved.value
    const created = yield* provider
      .create({
        instanceId: id,
        tenant: group.tenant,
        group: group.key,
        template: group.spec.template,
        templateHash: group.templateHash
      })
      .pipe(
        Effect.tapError((error) =>
          Effect.zipRight(
            InstanceStore.releaseReservation(id, context.now),
            reportFailure(context, "", "create")(error)
          )
        )
      )
    yield* InstanceStore.attachProvider(id, created.providerId)
    return reserved
  }).pipe(Effect.withSpan("instance-manager.create"))

/** Deletes one instance: `deleting`, the provider call (skipped when the provider says it is gone), `deleted`. */
export const remove = (
  context: PassContext,
  instance: InstanceStore.InstanceRecord
): Effect.Effect<void, ProviderError | FenceError, LifecycleServices> =>
  Effect.gen(function* () {
    const provider = yield* Provider
    yield* InstanceStore.update(context.term, instance.id, { state: "deleting" })
    if (instance.providerId !== null && instance.unhealthyReason !== "gone") {
      yield* provider.delete(instance.providerId)
    }
    yield* InstanceStore.update(context.term, instance.id, { state: "deleted", deleted_at: context.now })
  }).pipe(Effect.tapError(reportFailure(context, instance.id, "delete")))

/**
 * Replaces an instance with a drain: creates the replacement first (when `maxSurge` allows one),
 * then marks the instance `draining` with its deadline and calls `NotifyDrain`. Returns `false`
 * when no replacement could be made yet (the surge cap is reached), leaving the instance as is.
 * With `maxSurge` 0 the drain starts at once and the replacement follows the delete.
 */
export const replaceWithDrain = (
  context: PassContext,
  instance: InstanceStore.InstanceRecord,
  reason: ReplaceReason,
  cap: number
): Effect.Effect<boolean, ProviderError | FenceError, LifecycleServices> =>
  Effect.gen(function* () {
    const notifier = yield* Notifier
    const spec = context.group.spec
    let replacementId: string | null = null
    if (spec.maxSurge > 0) {
      const created = yield* create(context, cap)
      if (Option.isNone(created)) return false
      replacementId = created.value
    }
    const deleteAt = new Date(context.now.getTime() + Duration.toMillis(spec.drainTimeout))
    yield* InstanceStore.update(context.term, instance.id, {
      state: "draining",
      drain_started_at: context.now,
      drain_reason: reason,
      delete_at: deleteAt,
      replacement_id: replacementId
    })
    yield* notifier.notifyDrain({
      tenant: context.group.tenant,
      group: context.group.key,
      instanceId: instance.id,
      reason,
      unhealthyAt: instance.unhealthyAt,
      deleteAt
    })
    return true
  })
