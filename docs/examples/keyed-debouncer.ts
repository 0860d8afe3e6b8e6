/**
 * Coalescing a burst of row changes per document before they reach a controller: a document
 * whose rows change fifty times in a second is rebuilt once, not fifty times.
 */
import { Controller, KeyedDebouncer, type LeaderGate, Outcome } from "@converge/core"
import { Effect, Ref, type Scope } from "effect"

/** Starts the controller and the debouncer in front of it. */
export const make: Effect.Effect<
  {
    readonly rowChanged: (documentId: string, version: number) => Effect.Effect<void>
    readonly rebuilds: Effect.Effect<ReadonlyArray<string>>
  },
  never,
  LeaderGate.LeaderGate | Scope.Scope
> = Effect.gen(function* () {
  const rebuilt = yield* Ref.make<ReadonlyArray<string>>([])
  const documents = yield* Controller.make({
    name: "documents",
    reconcile: (documentId: string) =>
      Ref.update(rebuilt, (ids) => [...ids, documentId]).pipe(Effect.as(Outcome.done))
  })
  const changes = yield* KeyedDebouncer.make({
    name: "document-changes",
    window: "200 millis",
    onSettle: (documentId: string, _version: number) => documents.enqueue(documentId)
  })
  return { rowChanged: changes.set, rebuilds: Ref.get(rebuilt) }
})
