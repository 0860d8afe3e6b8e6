import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import * as Daemon from "../src/Daemon.js"
import { awaitLive, eventually, pendingUpdates, postgresSinkIn, recorder } from "./fixtures/live.js"
import { configYaml, createShop, decode, seedShop } from "./fixtures/shop.js"

const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

// A tsvector holds at most 1 MB: this status cannot be indexed.
const unindexable = Array.from({ length: 200_000 }, (_, i) => `w${i.toString(36)}x`).join(" ")

const index = (onError: string) =>
  configYaml(
    `  - { name: orders, table: orders, fields: [id, status], searchable: [status], on_error: ${onError} }`
  )

describe("Rejected documents", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("follow on_error per index", (it) => {
    it.scoped(
      "dead_letter stores the document and its reason and goes on; stop halts without acknowledging",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const run = (yaml: string, schema: string) =>
            Effect.gen(function* () {
              const events = yield* recorder
              const config = yield* decode(yaml)
              const fiber = yield* Daemon.run(config, {
                url: database.url,
                sinks: [yield* postgresSinkIn(schema)],
                observer: events.observer,
                heartbeatInterval: "100 millis"
              }).pipe(Effect.forkScoped)
              yield* awaitLive(fiber, events)
              return { fiber, recorded: events }
            })

          const dead = yield* run(index("dead_letter"), "dead")
          yield* sql`UPDATE orders SET status = ${unindexable} WHERE id = 100`
          yield* sql`UPDATE orders SET status = 'fine' WHERE id = 101`
          yield* eventually(
            sql<{ readonly id: string }>`SELECT id FROM dead.orders WHERE document->>'status' = 'fine'`.pipe(
              Effect.filterOrFail((rows) => rows.length === 1)
            )
          )
          // The dead letter and the quarantine event follow the batch's write: wait for them too.
          const [letter] = yield* eventually(
            sql<{
              readonly index: string
              readonly documentId: string
              readonly reason: string
            }>`
            SELECT index, document_id AS "documentId", reason FROM dead._converge_dead_letters`.pipe(
              Effect.filterOrFail((rows) => rows.length === 1)
            )
          )
          expect(letter).toMatchObject({ index: "orders", documentId: "100" })
          expect(letter?.reason).toContain("too long for tsvector")
          expect(
            yield* eventually(
              Effect.flatMap(dead.recorded.events, (events) =>
                Effect.fromNullable(events.find((event) => event._tag === "DocumentQuarantined"))
              )
            )
          ).toMatchObject({
            index: "orders",
            id: "100",
            policy: "dead_letter"
          })
          yield* Fiber.interrupt(dead.fiber)

          // The same rejection under `stop`: the daemon halts and its slot stays before that change.
          // (Its backfill would stop at order 100 first: make that one indexable again.)
          yield* sql`UPDATE orders SET status = 'paid' WHERE id = 100`
          const stopYaml = index("stop").replace("slot: shop_slot", "slot: stop_slot")
          const stopped = yield* run(stopYaml, "stopped")
          yield* sql`UPDATE orders SET status = ${`${unindexable} again`} WHERE id = 101`
          const exit = yield* Fiber.await(stopped.fiber)
          expect(Exit.isFailure(exit)).toBe(true)
          expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("DocumentsRejected")
          // The rejected update is still in the slot, waiting for the next start.
          expect(yield* pendingUpdates("stop_slot")).toBe(1)
        })
    )
  })
})
