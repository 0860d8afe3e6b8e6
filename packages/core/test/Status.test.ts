import { describe, expect, it } from "@effect/vitest"
import { Chunk, Deferred, Effect, Fiber, Schema, Stream } from "effect"
import * as Status from "../src/Status.js"

const Snapshot = Schema.Struct({
  phase: Schema.Literal("starting", "backfilling", "live"),
  since: Schema.Date
})

describe("Status", () => {
  it.effect("changes sees the current snapshot, then every update", () =>
    Effect.gen(function* () {
      const status = yield* Status.make(Snapshot, { phase: "starting", since: new Date(0) })
      const subscribed = yield* Deferred.make<void>()
      const seen = yield* Effect.fork(
        status.changes.pipe(
          Stream.tap(() => Deferred.succeed(subscribed, undefined)),
          Stream.map((snapshot) => snapshot.phase),
          Stream.take(3),
          Stream.runCollect
        )
      )
      yield* Deferred.await(subscribed)
      yield* status.update((snapshot) => ({ ...snapshot, phase: "backfilling" }))
      yield* status.set({ phase: "live", since: new Date(1000) })
      expect(Chunk.toArray(yield* Fiber.join(seen))).toEqual(["starting", "backfilling", "live"])
      expect((yield* status.get).phase).toBe("live")
    })
  )

  it.effect("encoded runs the snapshot through the schema, ready for JSON", () =>
    Effect.gen(function* () {
      const status = yield* Status.make(Snapshot, {
        phase: "live",
        since: new Date(Date.UTC(2025, 0, 2, 3, 4, 5))
      })
      expect(yield* status.encoded).toEqual({ phase: "live", since: "2025-01-02T03:04:05.000Z" })
    })
  )
})
