/**
 * Keep a search index in step with a document store. A change feed says which document to look
 * at; a periodic resync catches changes whose notification was lost.
 */
import { Controller, type LeaderGate, Outcome } from "@converge/core"
import { Effect, Queue, Ref, type Scope, Stream } from "effect"

/** Document id → text, in the store (desired) and in the index (actual). */
export type Documents = ReadonlyMap<string, string>

/** The running sync: the two stores and the feed that announces changes. */
export interface SearchSync {
  readonly store: Ref.Ref<Documents>
  readonly index: Ref.Ref<Documents>
  readonly changeFeed: Queue.Enqueue<string>
}

/** Starts the sync in the current scope; it runs until the scope closes. */
export const start: Effect.Effect<SearchSync, never, LeaderGate.LeaderGate | Scope.Scope> = Effect.gen(
  function* () {
    const store = yield* Ref.make<Documents>(new Map())
    const index = yield* Ref.make<Documents>(new Map())
    const changeFeed = yield* Queue.unbounded<string>()

    const reconcile = (id: string) =>
      Effect.gen(function* () {
        const text = (yield* Ref.get(store)).get(id)
        yield* Ref.update(index, (indexed) => {
          const next = new Map(indexed)
          if (text === undefined) next.delete(id)
          else next.set(id, text)
          return next
        })
        return Outcome.done
      })

    yield* Controller.make({
      name: "search-index",
      reconcile,
      concurrency: 4,
      triggers: [Stream.fromQueue(changeFeed)],
      resync: {
        every: "10 minutes",
        keys: Effect.map(Effect.all([Ref.get(store), Ref.get(index)]), ([stored, indexed]) => [
          ...new Set([...stored.keys(), ...indexed.keys()])
        ])
      },
      reconcileTimeout: "30 seconds",
      shutdownGracePeriod: "5 seconds"
    })
    return { store, index, changeFeed }
  }
)
