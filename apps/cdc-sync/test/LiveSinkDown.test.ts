import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
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

describe("Sink down", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped(
      "retries with backoff and acknowledges nothing while the sink fails, then recovers with nothing lost",
      () =>
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
            lagPollInterval: "100 millis",
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
