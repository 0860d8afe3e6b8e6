/**
 * Rebuilding a group's state from the provider's list, on every leadership acquisition
 * (`InitialReconcile`): the provider is the truth about what exists. The list is the group's
 * entry in the term's paginated listing of every instance (`RebuildSnapshot`), or, when the
 * group cannot use it (a retried rebuild, a failed listing), the group's own `list` call.
 *
 * - an instance the provider holds under a known id gets its provider id recorded (a create
 *   whose answer was lost with the previous leader);
 * - an instance the provider holds that the manager does not know is adopted;
 * - an instance the manager knows by provider id that the provider no longer lists is marked gone;
 * - a create reserved long before the listing began that never reached the provider is marked
 *   deleted; rows reserved after the listing began are left to a later rebuild or health check.
 */
import type { SqlClient } from "@effect/sql"
import { Effect, Option } from "effect"
import { isTerminal, Provider, type ProviderError } from "../provider/Provider.js"
import type { Fence, FenceError } from "../state/Fence.js"
import * as InstanceStore from "../state/InstanceStore.js"
import type { PassContext } from "./PassContext.js"
import { RebuildSnapshot } from "./RebuildSnapshot.js"

/** A reservation without a provider id older than this is a create that was lost. */
export const lostCreateAfterMillis = 120_000

/** Reconciles the group's instance rows with the provider's list. */
export const fromProvider = (
  context: PassContext
): Effect.Effect<
  void,
  ProviderError | FenceError,
  SqlClient.SqlClient | Fence | Provider | RebuildSnapshot
> =>
  Effect.gen(function* () {
    const provider = yield* Provider
    const snapshot = yield* RebuildSnapshot
    const { tenant, key } = context.group
    const fromSnapshot = yield* snapshot.take(context.term, tenant, key)
    const { instances: listed, listedAt } = Option.isSome(fromSnapshot)
      ? fromSnapshot.value
      : { instances: yield* provider.list(tenant, key), listedAt: context.now.getTime() }
    const known = yield* InstanceStore.listLive(tenant, key)
    const byId = new Map(known.map((instance) => [instance.id, instance]))
    const listedProviderIds = new Set(listed.map((instance) => instance.providerId))
    for (const instance of listed) {
      const record = byId.get(instance.instanceId)
      if (record === undefined) {
        if (isTerminal(instance.state)) continue
        yield* InstanceStore.adopt(
          {
            id: instance.instanceId,
            tenant,
            group: key,
            providerId: instance.providerId,
            templateHash: instance.templateHash,
            state: instance.state === "running" ? "running" : "pending",
            createdAt: new Date(instance.createdAt)
          },
          context.term
        )
      } else if (record.providerId === null) {
        yield* InstanceStore.attachProvider(record.id, instance.providerId)
      }
    }
    for (const record of known) {
      // The term's listing may be older than the pass: a row reserved after it began is not judged
      // by it (its create may have reached the provider after the listing read that page).
      if (record.createdAt.getTime() >= listedAt) continue
      if (
        record.providerId !== null &&
        !listedProviderIds.has(record.providerId) &&
        record.unhealthyReason !== "gone"
      ) {
        yield* InstanceStore.update(context.term, record.id, {
          unhealthy_at: context.now,
          unhealthy_reason: "gone"
        })
      }
      const lost =
        record.providerId === null &&
        !listed.some((instance) => instance.instanceId === record.id) &&
        listedAt - record.createdAt.getTime() >= lostCreateAfterMillis
      if (lost)
        yield* InstanceStore.update(context.term, record.id, { state: "deleted", deleted_at: context.now })
    }
  })
