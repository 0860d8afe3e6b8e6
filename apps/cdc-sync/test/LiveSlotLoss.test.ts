import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Schedule } from "effect"
import * as Daemon from "../src/Daemon.js"
import {
  awaitLive,
  eventually,
  expectedDocuments,
  postgresSink,
  recorder,
  sinkDocuments
} from "./fixtures/live.js"
import { configYaml, createShop, decode, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

describe("Slot loss", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped("a dropped slot is detected, recreated, reported, and every index backfilled again", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const database = yield* TestDatabase.TestDatabase
        const config = yield* decode(configYaml(ordersIndexYaml))
        const events = yield* recorder
        const sink = yield* postgresSink
        const daemon = yield* Daemon.run(config, {
          url: database.url,
          sinks: [sink],
          observer: events.observer,
          heartbeatInterval: "100 millis",
          maxRetryDelay: "300 millis"
        }).pipe(Effect.forkScoped)
        const converged = eventually(
          Effect.gen(function* () {
            const expected = yield* expectedDocuments(config)
            const actual = yield* sinkDocuments("orders")
            return yield* Effect.try(() => expect(actual).toEqual(expected))
          })
        )
        yield* awaitLive(daemon, events)
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
