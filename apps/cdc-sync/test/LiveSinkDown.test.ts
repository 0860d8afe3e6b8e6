import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { eventually, sinkDocuments } from "./fixtures/live.js"
import { converged as convergedTo, seededShop as shop, startDaemon } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

describe("Sink down", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped(
      "retries with backoff and acknowledges nothing while the sink fails, then recovers with nothing lost",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const config = yield* decode(configYaml(ordersIndexYaml))
          const { daemon, events } = yield* startDaemon(config, {
            lagPollInterval: "100 millis",
            maxRetryDelay: "300 millis"
          })
          const converged = convergedTo(config)
          yield* converged

          // The sink's table disappears: every write fails as a whole.
          yield* sql`ALTER TABLE search.orders RENAME TO orders_away`
          const confirmed = sql<{ readonly lsn: string }>`
          SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'shop_slot'`.pipe(
            Effect.map(([row]) => row?.lsn)
          )
          yield* sql`UPDATE orders SET status = 'changed while down' WHERE id = 100`
          yield* sql`INSERT INTO orders VALUES (500, 1, 'inserted while down', 5, NULL)`
          const errorsBefore = (yield* events.events).filter((event) => event._tag === "ErrorOccurred").length
          yield* eventually(
            Effect.filterOrFail(
              events.events,
              (all) => all.filter((event) => event._tag === "ErrorOccurred").length >= errorsBefore + 3
            )
          )
          const stuckAt = yield* confirmed
          yield* eventually(
            Effect.filterOrFail(
              events.events,
              (all) => all.filter((event) => event._tag === "ErrorOccurred").length >= errorsBefore + 6
            )
          )
          // No acknowledgement while the batch cannot be written, heartbeats notwithstanding.
          expect(yield* confirmed).toBe(stuckAt)
          const [lag] = yield* sql<{ readonly bytes: number }>`
          SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS bytes
          FROM pg_replication_slots WHERE slot_name = 'shop_slot'`
          expect(lag?.bytes).toBeGreaterThan(0)
          const lastError = (yield* events.events).filter((event) => event._tag === "ErrorOccurred").at(-1)
          expect(lastError).toMatchObject({ retrying: true })
          expect(lastError?._tag === "ErrorOccurred" && lastError.message).toContain('writing index "orders"')

          // The sink comes back: the same batch goes through and everything arrives.
          yield* sql`ALTER TABLE search.orders_away RENAME TO orders`
          yield* converged
          const documents = yield* sinkDocuments("orders")
          expect(documents["500"]).toMatchObject({ status: "inserted while down" })
          expect(documents["100"]).toMatchObject({ status: "changed while down" })
          yield* eventually(
            Effect.flatMap(confirmed, (lsn) => Effect.try(() => expect(lsn).not.toBe(stuckAt)))
          )
          yield* Fiber.interrupt(daemon)
        })
    )
  })
})
