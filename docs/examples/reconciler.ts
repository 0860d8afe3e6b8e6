/**
 * A reconciler for DNS records at a provider whose changes take a while to propagate (like
 * Route 53's PENDING → INSYNC). It uses all three outcomes and both kinds of failure.
 */
import { Outcome, Reconciler } from "@converge/core"
import { Clock, Data, Duration, Effect, Ref } from "effect"

/** The provider could not be reached: worth retrying. */
export class ProviderUnavailable extends Data.TaggedError("ProviderUnavailable")<{
  readonly name: string
}> {}

/** A record as the provider holds it: its value and when the change is visible everywhere. */
export interface ProviderRecord {
  readonly value: string
  readonly inSyncAtMillis: number
}

/** What the reconciler needs from a DNS provider. */
export interface DnsProvider {
  readonly lookup: (name: string) => Effect.Effect<ProviderRecord | undefined, ProviderUnavailable>
  readonly upsert: (name: string, value: string) => Effect.Effect<void, ProviderUnavailable>
  readonly remove: (name: string) => Effect.Effect<void, ProviderUnavailable>
}

// #region reconciler
const validName = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/

/** Makes the provider's record for `name` match `desired`, then waits until it has propagated. */
export const dnsRecords = (desired: ReadonlyMap<string, string>, provider: DnsProvider) =>
  Reconciler.make((name: string) =>
    Effect.gen(function* () {
      if (!validName.test(name)) {
        // Retrying cannot fix this: fail with Terminal so the controller reports it and stops.
        return yield* new Reconciler.Terminal({ message: `${name} is not a valid DNS name` })
      }
      const wanted = desired.get(name)
      const current = yield* provider.lookup(name) // ProviderUnavailable: retried with backoff
      if (wanted === undefined) {
        if (current !== undefined) yield* provider.remove(name)
        return Outcome.done
      }
      if (current?.value !== wanted) {
        yield* provider.upsert(name, wanted)
        return Outcome.requeueAfter("10 seconds") // come back to check propagation
      }
      const now = yield* Clock.currentTimeMillis
      return current.inSyncAtMillis <= now ? Outcome.done : Outcome.requeueAfter("10 seconds")
    })
  )
// #endregion reconciler

/**
 * A stand-in provider kept in memory: a change is in sync `propagation` after it is made, and
 * the first `outages` calls fail with `ProviderUnavailable`.
 */
export const inMemoryProvider = (options: {
  readonly propagation: Duration.DurationInput
  readonly outages: number
}) =>
  Effect.gen(function* () {
    const records = yield* Ref.make<ReadonlyMap<string, ProviderRecord>>(new Map())
    const outagesLeft = yield* Ref.make(options.outages)
    const reachable = (name: string) =>
      Effect.flatMap(
        Ref.getAndUpdate(outagesLeft, (left) => Math.max(0, left - 1)),
        (left) => (left > 0 ? Effect.fail(new ProviderUnavailable({ name })) : Effect.void)
      )
    const provider: DnsProvider = {
      lookup: (name) =>
        Effect.zipRight(
          reachable(name),
          Effect.map(Ref.get(records), (all) => all.get(name))
        ),
      upsert: (name, value) =>
        Effect.gen(function* () {
          yield* reachable(name)
          const inSyncAtMillis = (yield* Clock.currentTimeMillis) + Duration.toMillis(options.propagation)
          yield* Ref.update(records, (all) => new Map(all).set(name, { value, inSyncAtMillis }))
        }),
      remove: (name) =>
        Effect.zipRight(
          reachable(name),
          Ref.update(records, (all) => {
            const next = new Map(all)
            next.delete(name)
            return next
          })
        )
    }
    return { provider, records: Ref.get(records) }
  })
