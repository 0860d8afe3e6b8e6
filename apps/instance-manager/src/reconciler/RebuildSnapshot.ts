/**
 * The provider's listing taken once per leadership term, for every group's rebuild: one paginated
 * `listAll` (one API call per page) instead of one `list` per group, as a real cloud lists all of
 * a manager's instances with one tag-filtered paginated call.
 *
 * ```text
 *   leadership acquired (term T) ──start(T)──▶ listAll pages ──▶ { tenant/group → instances }
 *   group's rebuild in term T ──take(T, group)──▶ its entry (none = no instances), once
 *                             └─▶ None: list the group yourself
 * ```
 *
 * `take` waits for the term's listing, so no group is rebuilt from a partial one, and says when
 * the listing began: a row reserved after that cannot be judged by it (see `Rebuild`). A group gets
 * its entry once per term: a rebuild that failed and is retried lists its group again (the
 * snapshot is older than the failure). A page refused by the rate limit is asked again after
 * `retryAfter` (up to `throttledAttempts` times); any other failure ends the listing, is reported
 * through `NotifyError`, and every group of the term falls back to its own `list` call (retried by
 * the `InitialReconcile` policy like any rebuild).
 */
import { Clock, Context, Deferred, Effect, FiberId, Option, type Scope } from "effect"
import { Provider, type ProviderError, type ProviderInstance } from "../provider/Provider.js"
import * as GroupKey from "./GroupKey.js"
import type { Notifier } from "./Notifier.js"

/** How many times a throttled page is asked again before the listing gives up. */
export const throttledAttempts = 5

/** The RebuildSnapshot service. */
export class RebuildSnapshot extends Context.Tag("@converge/instance-manager/RebuildSnapshot")<
  RebuildSnapshot,
  RebuildSnapshot.Service
>() {}

/** The types of the RebuildSnapshot service. */
export declare namespace RebuildSnapshot {
  /** Start and read the term's listing. */
  export interface Service {
    /** Starts the listing of `term` (once; a later call for the same term does nothing). */
    readonly start: (term: number) => Effect.Effect<void>
    /**
     * The group's instances in the listing of `term` (empty when the provider listed none), the
     * first time it is asked in that term; `None` when the group must list itself: asked before,
     * the listing failed, or `term` is not the latest term listed.
     */
    readonly take: (term: number, tenant: string, group: string) => Effect.Effect<Option.Option<GroupListing>>
  }
}

/** A group's entry in the term's listing, and when the listing began (epoch milliseconds). */
export interface GroupListing {
  readonly instances: ReadonlyArray<ProviderInstance>
  readonly listedAt: number
}

interface Listed {
  readonly byGroup: Map<GroupKey.GroupKey, Array<ProviderInstance>>
  readonly listedAt: number
}

interface TermListing {
  readonly term: number
  readonly result: Deferred.Deferred<Listed | undefined>
  readonly taken: Set<GroupKey.GroupKey>
}

/** Every page of the provider's `listAll`; a throttled page is asked again after its `retryAfter`. */
export const listEverything = (
  provider: Provider.Service
): Effect.Effect<ReadonlyArray<ProviderInstance>, ProviderError> =>
  Effect.gen(function* () {
    const instances: Array<ProviderInstance> = []
    let token: string | undefined
    let throttled = 0
    for (;;) {
      const page = yield* Effect.either(provider.listAll(token))
      if (page._tag === "Left") {
        const error = page.left
        if (error._tag !== "ProviderThrottledError" || ++throttled >= throttledAttempts) return yield* error
        yield* Effect.sleep(error.retryAfter)
        continue
      }
      instances.push(...page.right.instances)
      if (page.right.nextPageToken === undefined) return instances
      token = page.right.nextPageToken
    }
  })

/** Makes the service; listings run in `scope` (not in the pass that asked first). */
export const make = (
  notifier: Notifier.Service
): Effect.Effect<RebuildSnapshot.Service, never, Provider | Scope.Scope> =>
  Effect.gen(function* () {
    const provider = yield* Provider
    const scope = yield* Effect.scope
    let latest: TermListing | undefined

    const list = (listing: TermListing, listedAt: number) =>
      Effect.matchEffect(listEverything(provider), {
        onSuccess: (instances) => {
          const byGroup = new Map<GroupKey.GroupKey, Array<ProviderInstance>>()
          for (const instance of instances) {
            const key = GroupKey.make(instance.tenant, instance.group)
            const entry = byGroup.get(key)
            if (entry === undefined) byGroup.set(key, [instance])
            else entry.push(instance)
          }
          return Deferred.succeed(listing.result, { byGroup, listedAt })
        },
        onFailure: (error) =>
          Effect.gen(function* () {
            yield* notifier.notifyError({
              tenant: "",
              group: "",
              instanceId: "",
              message: `listing every instance for the rebuild of term ${listing.term} failed (${error.message}); each group lists its own instances instead`,
              at: new Date(yield* Clock.currentTimeMillis)
            })
            yield* Deferred.succeed(listing.result, undefined)
          })
      })

    const start = (term: number) =>
      Effect.suspend(() => {
        if (latest !== undefined && latest.term >= term) return Effect.void
        const listing: TermListing = {
          term,
          result: Deferred.unsafeMake(FiberId.none),
          taken: new Set()
        }
        latest = listing
        return Effect.asVoid(
          Effect.forkIn(
            Effect.flatMap(Clock.currentTimeMillis, (listedAt) => list(listing, listedAt)),
            scope
          )
        )
      })

    const take = (term: number, tenant: string, group: string) =>
      Effect.gen(function* () {
        yield* start(term)
        const listing = latest
        if (listing === undefined || listing.term !== term) return Option.none()
        const listed = yield* Deferred.await(listing.result)
        const key = GroupKey.make(tenant, group)
        if (listed === undefined || listing.taken.has(key)) return Option.none()
        listing.taken.add(key)
        const instances = listed.byGroup.get(key) ?? []
        listed.byGroup.delete(key)
        return Option.some({ instances, listedAt: listed.listedAt })
      })

    return { start, take } satisfies RebuildSnapshot.Service
  })
