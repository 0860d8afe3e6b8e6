/**
 * A first controller: make the replicas running for each service match what was asked for.
 * Desired and actual state are in-memory maps here; in an app they are a database and an API.
 */
import { Controller, LeaderGate, Outcome } from "@converge/core"
import { Effect, Ref } from "effect"

/** Replicas per service name. */
export type Replicas = ReadonlyMap<string, number>

/** What someone asked for. */
export const desired: Replicas = new Map([
  ["web", 3],
  ["worker", 2],
  ["cron", 1]
])

/** Runs a controller until `actual` matches `desired`, then returns `actual`. */
export const program = Effect.gen(function* () {
  const actual = yield* Ref.make<Replicas>(
    new Map([
      ["web", 1],
      ["legacy-api", 4]
    ])
  )

  // Given one service, close the gap between desired and actual. Never told why it runs.
  const reconcile = (service: string) =>
    Ref.update(actual, (running) => {
      const next = new Map(running)
      const wanted = desired.get(service)
      if (wanted === undefined) next.delete(service)
      else next.set(service, wanted)
      return next
    }).pipe(Effect.as(Outcome.done))

  const controller = yield* Controller.make({ name: "replicas", reconcile, concurrency: 2 })
  const services = new Set([...desired.keys(), ...(yield* Ref.get(actual)).keys()])
  yield* controller.enqueueAll(services)
  yield* controller.awaitIdle
  return yield* Ref.get(actual)
}).pipe(Effect.scoped, Effect.provide(LeaderGate.always))
