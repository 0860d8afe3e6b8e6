/**
 * In-process locks keyed by edge group: a dispatcher runs at most one hop per group at a time, so
 * the hops its fibers have queued for one hot group (a fan-in) wait here, in order, instead of as
 * a convoy of Postgres backends on the group's row lock, where every commit wakes all of them.
 * Only an optimization: the row lock still serializes hops across processes.
 */
import { Effect, Ref } from "effect"

interface Entry {
  readonly semaphore: Effect.Semaphore
  readonly users: number
}

/** A set of per-group locks (see the module doc). */
export interface GroupLocks {
  /** Runs `effect` while holding `downstreamId`'s lock; the entry is dropped once unused. */
  readonly withLock: <A, E, R>(downstreamId: string, effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

/** Makes an empty set of per-group locks. */
export const make: Effect.Effect<GroupLocks> = Effect.map(Ref.make(new Map<string, Entry>()), (entries) => ({
  withLock: (downstreamId, effect) =>
    Effect.acquireUseRelease(
      Ref.modify(entries, (current) => {
        const existing = current.get(downstreamId)
        const entry: Entry = {
          semaphore: existing?.semaphore ?? Effect.unsafeMakeSemaphore(1),
          users: (existing?.users ?? 0) + 1
        }
        return [entry.semaphore, new Map(current).set(downstreamId, entry)]
      }),
      (semaphore) => semaphore.withPermits(1)(effect),
      () =>
        Ref.update(entries, (current) => {
          const existing = current.get(downstreamId)
          const next = new Map(current)
          if (existing === undefined || existing.users <= 1) next.delete(downstreamId)
          else next.set(downstreamId, { ...existing, users: existing.users - 1 })
          return next
        })
    )
}))
