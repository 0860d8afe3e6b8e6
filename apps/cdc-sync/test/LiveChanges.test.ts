import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { eventually } from "./fixtures/live.js"
import { converged as convergedTo, seededShop as shop, startDaemon } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

type Orders = Record<string, { readonly items: ReadonlyArray<{ readonly sku: string }> }>

describe("Live changes", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped("every kind of change reaches the sink, and the sink equals the source's documents", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        // Small batches: a transaction of 40 changes spans several parts.
        const config = yield* decode(configYaml(ordersIndexYaml, "batch: { max_changes: 10 }"))
        const { daemon, events } = yield* startDaemon(config, {
          heartbeatInterval: "200 millis",
          lagPollInterval: "200 millis"
        })
        const converged = Effect.map(convergedTo(config), (documents) => documents as Orders)
        yield* converged

        // A child moved to another parent updates both; the old parent loses it.
        yield* sql`UPDATE order_items SET order_id = 100 WHERE id = 1003`
        let documents = yield* converged
        expect(documents["101"]?.items).toEqual([])

        // A deleted child updates its parent.
        yield* sql`DELETE FROM order_items WHERE id = 1001`
        documents = yield* converged
        expect(documents["100"]?.items.map((item) => item.sku)).toEqual(["D", "A"])

        // A primary-key update deletes the old document and writes the new one.
        yield* sql`UPDATE orders SET id = 200 WHERE id = 103`
        documents = yield* converged
        expect(Object.keys(documents)).toContain("200")
        expect(Object.keys(documents)).not.toContain("103")

        // Soft delete removes the document; a related row's change reaches its parents.
        yield* sql`UPDATE orders SET deleted_at = now() WHERE id = 101`
        yield* sql`UPDATE customers SET name = 'Ada Lovelace' WHERE id = 1`
        documents = yield* converged
        expect(Object.keys(documents).sort()).toEqual(["100", "200"])

        // One transaction larger than a batch.
        yield* sql.withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO orders SELECT g, 2, 'bulk', g, NULL FROM generate_series(300, 319) g`
            yield* sql`INSERT INTO order_items SELECT g + 3000, g, 'K' || g, 1, 1 FROM generate_series(300, 319) g`
          })
        )
        documents = yield* converged
        expect(Object.keys(documents)).toHaveLength(22)

        // TRUNCATE of a child table: the index is marked stale and backfilled again.
        yield* sql`TRUNCATE order_tags`
        yield* converged
        yield* eventually(Effect.filterOrFail(events.has("IndexStale"), (stale) => stale))
        // TRUNCATE of the root (with its children): every document is swept.
        yield* sql`TRUNCATE orders, order_items, order_tags`
        documents = yield* converged
        expect(documents).toEqual({})
        yield* sql`INSERT INTO orders VALUES (400, 1, 'after truncate', 1, NULL)`
        documents = yield* converged
        expect(Object.keys(documents)).toEqual(["400"])
        const stale = (yield* events.events).filter((event) => event._tag === "IndexStale")
        expect(stale).toHaveLength(2)

        // A quiet slot: lag returns to about zero though the server's WAL moves on.
        yield* sql`CREATE TABLE unrelated (payload text)`
        yield* sql`INSERT INTO unrelated SELECT repeat('x', 1000) FROM generate_series(1, 2000)`
        yield* eventually(
          Effect.gen(function* () {
            const [row] = yield* sql<{ readonly lag: number }>`
              SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag
              FROM pg_replication_slots WHERE slot_name = 'shop_slot'`
            return yield* Effect.try(() => expect(row?.lag).toBeLessThan(64 * 1024))
          })
        )
        expect((yield* events.events).some((event) => event._tag === "SlotLag")).toBe(true)
        yield* Fiber.interrupt(daemon)
      })
    )
  })
})
