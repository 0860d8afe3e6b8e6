import { EmbeddedPostgres } from "@converge/pg"
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Layer, Redacted } from "effect"
import { eventually, sinkDocuments } from "./fixtures/live.js"
import { converged as convergedTo, startDaemon as startDaemonWith } from "./fixtures/liveShop.js"
import { configYaml, createShop, decode, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

// A server of its own: a slot may keep at most 1 MB of WAL, so a few WAL segments written while
// capture is stopped invalidate it (wal_status = 'lost'). The shared test server keeps WAL for slots.
const tinySlotServer = Layer.unwrapScoped(
  Effect.map(
    EmbeddedPostgres.make({
      durable: false,
      settings: {
        max_slot_wal_keep_size: "1MB",
        wal_keep_size: 0,
        min_wal_size: "32MB",
        max_wal_size: "64MB"
      }
    }),
    (server) =>
      Layer.merge(
        PgClient.layer({ url: Redacted.make(server.url) }),
        Layer.succeed(TestDatabase.TestDatabase, { name: "postgres", url: server.url })
      )
  )
)

const shop = Layer.provideMerge(Layer.effectDiscard(Effect.zipRight(createShop, seedShop)), tinySlotServer)

const config = decode(configYaml(ordersIndexYaml))

/** Starts the daemon in this scope on the orders index and waits until it is live. */
const startDaemon = Effect.flatMap(config, (decoded) =>
  startDaemonWith(decoded, { maxRetryDelay: "300 millis" })
)

/** Waits until the sink holds exactly the documents the source's rows make. */
const converged = Effect.flatMap(config, convergedTo)

/** The slot's `wal_status` and `invalidation_reason`. */
const slotWal = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly walStatus: string | null; readonly reason: string | null }>`
    SELECT wal_status AS "walStatus", invalidation_reason AS reason
    FROM pg_replication_slots WHERE slot_name = 'shop_slot'`.pipe(Effect.map(([row]) => row))
)

/** Writes WAL segments (switch + checkpoint) until the slot is invalidated: at most 20 rounds. */
const writeWalUntilLost = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`CREATE TABLE IF NOT EXISTS wal_filler (n int)`.pipe(
    Effect.zipRight(sql`INSERT INTO wal_filler SELECT generate_series(1, 1000)`),
    Effect.zipRight(sql`SELECT pg_switch_wal()`),
    Effect.zipRight(sql`CHECKPOINT`),
    Effect.zipRight(slotWal),
    Effect.repeat({ until: (row) => row?.walStatus === "lost", times: 20 })
  )
)

describe("Slot invalidated", () => {
  layer(shop, { timeout: 180_000, excludeTestServices: true })("max_slot_wal_keep_size = 1MB", (it) => {
    it.scoped(
      "a slot that lost its WAL while capture was stopped is detected, recreated, reported, and every index backfilled again",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const first = yield* startDaemon
          yield* converged
          yield* Fiber.interrupt(first.daemon)

          // While capture is stopped: changes the slot must keep, then WAL beyond what it may keep.
          yield* sql`UPDATE orders SET status = 'while stopped' WHERE id = 101`
          yield* sql`UPDATE order_items SET order_id = 101 WHERE id = 1000`
          yield* sql`INSERT INTO orders VALUES (104, 2, 'inserted while stopped', 4, NULL)`
          expect(yield* slotWal).toEqual({ walStatus: "reserved", reason: null })
          const lost = yield* writeWalUntilLost
          expect(lost).toEqual({ walStatus: "lost", reason: "wal_removed" })

          const second = yield* startDaemon
          yield* converged
          const all = yield* second.events.events
          expect(all.find((event) => event._tag === "SlotRecreated")).toMatchObject({
            slot: "shop_slot",
            reason: "the slot lost WAL it needed (wal_status = lost)"
          })
          expect(all.find((event) => event._tag === "SlotEnsured")).toMatchObject({ created: true })
          expect(all.filter((event) => event._tag === "IndexSeeded")).toHaveLength(1)
          const documents = yield* sinkDocuments("orders")
          expect(documents["101"]).toMatchObject({
            status: "while stopped",
            items: [{ sku: "D" }, { sku: "A" }]
          })
          expect(documents["104"]).toMatchObject({ status: "inserted while stopped" })
          expect(yield* slotWal).toEqual({ walStatus: "reserved", reason: null })

          // Live again on the new slot.
          yield* sql`UPDATE orders SET status = 'after recreation' WHERE id = 104`
          yield* eventually(
            Effect.flatMap(sinkDocuments("orders"), (current) =>
              Effect.try(() => expect(current["104"]).toMatchObject({ status: "after recreation" }))
            )
          )
          yield* Fiber.interrupt(second.daemon)
        }),
      180_000
    )

    it.scoped(
      "a slot invalidated under the running daemon (its walsender terminated) is detected when capture starts over, recreated, reported and backfilled",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const running = yield* startDaemon
          yield* converged
          // An open transaction that wrote something holds the slot's restart_lsn back, so the
          // WAL written next is WAL the running slot still needs.
          yield* sql`CREATE TABLE IF NOT EXISTS wal_filler (n int)`
          const release = yield* Deferred.make<void>()
          const holding = yield* Deferred.make<void>()
          const holder = yield* sql
            .withTransaction(
              sql`INSERT INTO wal_filler VALUES (0)`.pipe(
                Effect.zipRight(Deferred.succeed(holding, undefined)),
                Effect.zipRight(Deferred.await(release))
              )
            )
            .pipe(Effect.forkScoped)
          yield* Deferred.await(holding)
          yield* sql`UPDATE orders SET status = 'while invalidated' WHERE id = 100`
          const lost = yield* writeWalUntilLost
          expect(lost).toEqual({ walStatus: "lost", reason: "wal_removed" })
          yield* Deferred.succeed(release, undefined)
          yield* Fiber.join(holder)

          yield* eventually(
            Effect.filterOrFail(running.events.has("SlotRecreated"), (recreated) => recreated)
          )
          yield* converged
          const all = yield* running.events.events
          expect(all.find((event) => event._tag === "SlotRecreated")).toMatchObject({
            reason: "the slot lost WAL it needed (wal_status = lost)"
          })
          expect(
            all.some((event) => event._tag === "ErrorOccurred" && event.message.includes("shop_slot"))
          ).toBe(true)
          expect((yield* sinkDocuments("orders"))["100"]).toMatchObject({ status: "while invalidated" })
          expect(yield* slotWal).toEqual({ walStatus: "reserved", reason: null })
          yield* Fiber.interrupt(running.daemon)
        }),
      180_000
    )
  })
})
