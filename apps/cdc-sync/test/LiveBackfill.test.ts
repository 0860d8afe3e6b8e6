import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Option } from "effect"
import * as Daemon from "../src/Daemon.js"
import { eventually, expectedDocuments, postgresSink, recorder, sinkDocuments } from "./fixtures/live.js"
import { configYaml, createShop, decode, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

describe("Backfill then live", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped("no first-run gap: rows written while the backfill runs all arrive", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const database = yield* TestDatabase.TestDatabase
        yield* sql`INSERT INTO orders SELECT g, 1 + g % 2, 'bulk', g, NULL FROM generate_series(1000, 2999) g`
        yield* sql`INSERT INTO order_items SELECT 10000 + g, g, 'S' || g, 1, 1 FROM generate_series(1000, 2999) g`
        const config = yield* decode(configYaml(ordersIndexYaml))
        const events = yield* recorder
        const sink = yield* postgresSink
        const daemon = yield* Daemon.run(config, {
          url: database.url,
          sinks: [sink],
          observer: events.observer,
          backfillPageSize: 50,
          heartbeatInterval: "200 millis",
          lagPollInterval: "200 millis"
        }).pipe(Effect.forkScoped)

        // Write orders, items and moves until the index is seeded; count those written mid-backfill.
        let writtenDuringBackfill = 0
        let next = 5000
        while (!(yield* events.has("IndexSeeded"))) {
          const ended = yield* Fiber.poll(daemon)
          if (Option.isSome(ended))
            return yield* Effect.dieMessage(`the daemon stopped: ${String(ended.value)}`)
          const during = yield* events.has("BackfillStarted")
          yield* sql`INSERT INTO orders VALUES (${next}, 2, 'during', 1, NULL)`
          yield* sql`INSERT INTO order_items VALUES (${next + 20000}, ${next}, 'new', 1, 1)`
          yield* sql`UPDATE order_items SET order_id = ${next} WHERE id = ${next + 6000}`
          if (during) writtenDuringBackfill++
          next++
        }
        expect(writtenDuringBackfill).toBeGreaterThan(0)

        const expected = yield* expectedDocuments(config)
        yield* eventually(
          Effect.flatMap(sinkDocuments("orders"), (actual) =>
            Effect.try(() => expect(actual).toEqual(expected))
          )
        )
        expect(Object.keys(expected).length).toBeGreaterThan(2000 + writtenDuringBackfill)

        const seen = (yield* events.events).map((event) => event._tag)
        // Publication and slot come before the snapshot; progress is reported.
        expect(seen.indexOf("PublicationEnsured")).toBeLessThan(seen.indexOf("SlotEnsured"))
        expect(seen.indexOf("SlotEnsured")).toBeLessThan(seen.indexOf("BackfillStarted"))
        const progress = (yield* events.events).filter((event) => event._tag === "BackfillProgress")
        expect(progress.length).toBeGreaterThan(10)
        expect(progress.at(-1)).toMatchObject({ done: progress.at(-1)?.total })
        yield* Fiber.interrupt(daemon)
      })
    )
  })
})
