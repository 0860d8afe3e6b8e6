import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Schedule } from "effect"
import { eventually, sinkDocuments } from "./fixtures/live.js"
import { converged as convergedTo, seededShop as shop, startDaemon } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

describe("Slot loss", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped("a dropped slot is detected, recreated, reported, and every index backfilled again", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const config = yield* decode(configYaml(ordersIndexYaml))
        const { daemon, events } = yield* startDaemon(config, { maxRetryDelay: "300 millis" })
        const converged = convergedTo(config)
        yield* converged

        // Drop the slot under the running daemon (ending its walsender), then change rows at once:
        // changes before the new slot exists reach no slot and only a new backfill can bring them.
        yield* sql`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
                   WHERE slot_name = 'shop_slot' AND active_pid IS NOT NULL`.pipe(
          Effect.zipRight(sql`SELECT pg_drop_replication_slot('shop_slot')`),
          Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("30 seconds")))
        )
        yield* sql`UPDATE order_items SET order_id = 100 WHERE id = 1003`
        yield* sql`UPDATE orders SET status = 'while no slot' WHERE id = 101`
        yield* sql`UPDATE orders SET deleted_at = now() WHERE id = 103`

        yield* eventually(Effect.filterOrFail(events.has("SlotRecreated"), (recreated) => recreated))
        yield* converged
        const all = yield* events.events
        expect(all.filter((event) => event._tag === "IndexSeeded")).toHaveLength(2)
        expect(all.find((event) => event._tag === "SlotRecreated")).toMatchObject({
          slot: "shop_slot",
          reason: "the slot was missing (dropped)"
        })
        expect(
          all.some((event) => event._tag === "ErrorOccurred" && event.message.includes("shop_slot"))
        ).toBe(true)
        const documents = yield* sinkDocuments("orders")
        expect(Object.keys(documents)).not.toContain("103")
        expect(documents["101"]).toMatchObject({ status: "while no slot", items: [] })
        yield* Fiber.interrupt(daemon)
      })
    )
  })
})
