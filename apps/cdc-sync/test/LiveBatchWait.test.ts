import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { eventually } from "./fixtures/live.js"
import { converged, seededShop, startDaemon } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

describe("batch.max_wait_ms", () => {
  layer(seededShop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped("transactions committed within max_wait_ms of a batch's first change share that batch", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        // A long wait and a large size: only the wait closes a batch here.
        const config = yield* decode(
          configYaml(ordersIndexYaml, "batch: { max_changes: 1000, max_wait_ms: 3000 }")
        )
        const { daemon, events } = yield* startDaemon(config)
        yield* converged(config)
        const before = (yield* events.events).length

        // Five single-row transactions 200 ms apart: with the default 50 ms each would be a batch of its own.
        for (const id of [100, 101, 102, 103, 100]) {
          yield* sql`UPDATE orders SET total = total + 1 WHERE id = ${id}`
          yield* Effect.sleep("200 millis")
        }
        yield* converged(config)
        const batches = yield* eventually(
          Effect.flatMap(events.events, (all) => {
            const committed = all
              .slice(before)
              .flatMap((event) => (event._tag === "BatchCommitted" && event.changes > 0 ? [event] : []))
            return committed.length > 0 ? Effect.succeed(committed) : Effect.fail("no batch with changes yet")
          })
        )
        // All five in the first batch that carried any of them (heartbeats may ride along).
        expect(batches[0]?.changes).toBe(5)
        expect(batches[0]?.transactions).toBeGreaterThanOrEqual(5)
        yield* Fiber.interrupt(daemon)
      })
    )
  })
})
