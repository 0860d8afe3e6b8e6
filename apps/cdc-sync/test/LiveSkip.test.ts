import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Daemon from "../src/Daemon.js"
import * as CdcStatus from "../src/observe/CdcStatus.js"
import { awaitLive, eventually, postgresSinkIn, recorder } from "./fixtures/live.js"
import { configYaml, createShop, decode, seedShop } from "./fixtures/shop.js"

const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

// A tsvector holds at most 1 MB: this status cannot be indexed.
const unindexable = Array.from({ length: 200_000 }, (_, i) => `w${i.toString(36)}x`).join(" ")

describe("on_error: skip", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped("counts the rejected document as quarantined, stores nothing aside and goes on", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const database = yield* TestDatabase.TestDatabase
        const events = yield* recorder
        const config = yield* decode(
          configYaml(
            `  - { name: orders, table: orders, fields: [id, status], searchable: [status], on_error: skip }`
          )
        )
        const daemon = yield* Daemon.run(config, {
          url: database.url,
          sinks: [yield* postgresSinkIn("skipping")],
          observer: events.observer,
          heartbeatInterval: "100 millis"
        }).pipe(Effect.forkScoped)
        yield* awaitLive(daemon, events)
        const statusOf = (id: number) =>
          sql<{ readonly status: string }>`
            SELECT document->>'status' AS status FROM skipping.orders WHERE id = ${String(id)}`.pipe(
            Effect.map(([row]) => row?.status)
          )
        expect(yield* statusOf(100)).toBe("paid")

        yield* sql`UPDATE orders SET status = ${unindexable} WHERE id = 100`
        yield* sql`UPDATE orders SET status = 'after the rejection' WHERE id = 101`
        const [{ lsn: afterUpdates } = { lsn: "" }] = yield* sql<{ readonly lsn: string }>`
          SELECT pg_current_wal_lsn()::text AS lsn`
        yield* eventually(Effect.filterOrFail(statusOf(101), (status) => status === "after the rejection"))
        // The rejected version was not written; the previous one stays.
        expect(yield* statusOf(100)).toBe("paid")
        // 101 is in the table before the pipeline reports on 100: wait for its verdict.
        const quarantinedEvents = Effect.map(events.events, (all) =>
          all.filter((event) => event._tag === "DocumentQuarantined")
        )
        yield* eventually(Effect.filterOrFail(quarantinedEvents, (found) => found.length >= 1))
        const quarantined = yield* quarantinedEvents
        expect(quarantined).toEqual([
          expect.objectContaining({ index: "orders", id: "100", policy: "skip", sink: "search" })
        ])
        expect(quarantined[0]?._tag === "DocumentQuarantined" && quarantined[0].reason).toContain(
          "too long for tsvector"
        )
        const status = (yield* events.events).reduce(
          CdcStatus.reduce,
          CdcStatus.initial(new Date(), ["orders"])
        )
        expect(status.quarantined).toBe(1)
        // Nothing stored aside, and the slot moved past the rejected change.
        const [letters] = yield* sql<{ readonly count: number }>`
          SELECT count(*)::int AS count FROM skipping._converge_dead_letters`
        expect(letters?.count).toBe(0)
        yield* eventually(
          sql<{ readonly passed: boolean }>`
            SELECT confirmed_flush_lsn >= ${afterUpdates}::pg_lsn AS passed
            FROM pg_replication_slots WHERE slot_name = 'shop_slot'`.pipe(
            Effect.filterOrFail(([row]) => row?.passed === true)
          )
        )
        // Later changes keep flowing, including a fixed version of the skipped document.
        yield* sql`UPDATE orders SET status = 'fixed' WHERE id = 100`
        yield* eventually(Effect.filterOrFail(statusOf(100), (status) => status === "fixed"))
        yield* Fiber.interrupt(daemon)
      })
    )
  })
})
