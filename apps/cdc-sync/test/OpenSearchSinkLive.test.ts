import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer } from "effect"
import * as Validation from "../src/config/Validation.js"
import * as Daemon from "../src/Daemon.js"
import * as Reindex from "../src/reindex/Reindex.js"
import * as OpenSearchSink from "../src/sinks/OpenSearchSink.js"
import { awaitLive, eventually, expectedDocuments, recorder } from "./fixtures/live.js"
import * as OpenSearchStandIn from "./fixtures/OpenSearchStandIn.js"
import { configYaml, createShop, decode, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

// The daemon against the local stand-in of the OpenSearch REST API, not a real cluster.

const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

describe("OpenSearch sink, live (against the stand-in)", () => {
  layer(shop, { timeout: 180_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped(
      "backfills with refresh disabled, follows changes, survives a 503 cluster without acking, reindexes behind the alias",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const standIn = yield* OpenSearchStandIn.start
          const config = yield* decode(configYaml(ordersIndexYaml))
          const events = yield* recorder
          const sink = yield* OpenSearchSink.make({
            name: "search",
            nodes: [standIn.url],
            indexPrefix: "shop_",
            ...OpenSearchSink.defaultCaps,
            maxBulkDocuments: 2,
            refreshInterval: "1s",
            gcDeletes: "1h",
            requestTimeoutMillis: 5_000
          })
          const daemon = yield* Daemon.run(config, {
            url: database.url,
            sinks: [sink],
            observer: events.observer,
            heartbeatInterval: "100 millis",
            lagPollInterval: "100 millis",
            maxRetryDelay: "300 millis"
          }).pipe(Effect.forkScoped)
          const sources = Effect.map(standIn.documents("shop_orders"), (documents) =>
            Object.fromEntries(Object.entries(documents).map(([id, document]) => [id, document.source]))
          )
          const converged = eventually(
            Effect.gen(function* () {
              const expected = yield* expectedDocuments(config)
              const actual = yield* sources
              return yield* Effect.try(() => expect(actual).toEqual(expected))
            })
          )
          yield* awaitLive(daemon, events)
          yield* converged
          expect(yield* standIn.aliases).toEqual({ shop_orders: ["shop_orders_g1"] })

          // Refresh was off from the index's creation through the backfill's bulks, then restored.
          const log = yield* standIn.log
          const created = log.findIndex(
            (request) => request.method === "PUT" && request.path === "/shop_orders_g1"
          )
          expect(JSON.parse(log[created]?.body ?? "{}").settings.index.refresh_interval).toBe("-1")
          const restored = log.findIndex(
            (request) => request.path === "/shop_orders_g1/_settings" && request.body.includes('"1s"')
          )
          const backfillBulks = log.filter(
            (request, at) => request.path === "/_bulk" && at > created && at < restored
          )
          expect(backfillBulks.length).toBeGreaterThanOrEqual(2)
          expect((yield* standIn.settings("shop_orders_g1"))?.refresh_interval).toBe("1s")

          // Live changes, including a delete.
          yield* sql`UPDATE orders SET status = 'shipped' WHERE id = 100`
          yield* sql`DELETE FROM order_tags WHERE order_id = 101`
          yield* sql`DELETE FROM order_items WHERE order_id = 101`
          yield* sql`DELETE FROM orders WHERE id = 101`
          yield* converged
          expect(Object.keys(yield* sources)).not.toContain("101")

          // The cluster answers 503: nothing acknowledged until it recovers, then nothing lost.
          const confirmed = sql<{ readonly lsn: string }>`
            SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'shop_slot'`.pipe(
            Effect.map(([row]) => row?.lsn)
          )
          yield* standIn.failWith(503)
          yield* sql`INSERT INTO orders VALUES (600, 2, 'while 503', 1, NULL)`
          const errors = Effect.map(events.events, (all) =>
            all.filter((event) => event._tag === "ErrorOccurred")
          )
          const before = (yield* errors).length
          yield* eventually(Effect.filterOrFail(errors, (all) => all.length >= before + 2))
          const stuck = yield* confirmed
          yield* eventually(Effect.filterOrFail(errors, (all) => all.length >= before + 4))
          expect(yield* confirmed).toBe(stuck)
          const lastError = (yield* errors).at(-1)
          expect(lastError?._tag === "ErrorOccurred" && lastError.message).toContain(
            "the cluster answered 503"
          )
          yield* standIn.failWith(undefined)
          yield* converged
          expect((yield* sources)["600"]).toMatchObject({ status: "while 503" })
          yield* eventually(Effect.flatMap(confirmed, (lsn) => Effect.try(() => expect(lsn).not.toBe(stuck))))

          // Reindex into the next generation while a change lands, then swap the alias.
          const validated = yield* Validation.validate(config).pipe(Effect.orDie)
          const plan = validated.plans[0]!
          const reindexing = yield* Reindex.run(plan, [sink], "shop_slot", events.observer).pipe(Effect.fork)
          yield* sql`UPDATE orders SET status = 'during reindex' WHERE id = 103`
          yield* Fiber.join(reindexing)
          expect(yield* standIn.aliases).toEqual({ shop_orders: ["shop_orders_g2"] })
          expect(yield* standIn.indexes).not.toContain("shop_orders_g1")
          yield* converged
          expect((yield* sources)["103"]).toMatchObject({ status: "during reindex" })
          expect((yield* standIn.settings("shop_orders_g2"))?.refresh_interval).toBe("1s")
          expect(yield* sink.isSeeded("orders")).toBe(true)
          yield* Fiber.interrupt(daemon)
        })
    )
  })
})
