import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Effect, Queue } from "effect"
import * as ReplicationStream from "../src/capture/ReplicationStream.js"
import * as Slot from "../src/source/Slot.js"
import { eventually } from "./fixtures/live.js"

describe("Capture change budget", () => {
  layer(TestDatabase.layer, { timeout: 120_000, excludeTestServices: true })("on a fresh database", (it) => {
    it.scoped(
      "a backlog of bulk transactions queues at most four batches' worth of changes, though the queue has room for more parts",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          yield* sql.unsafe(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL);
            CREATE PUBLICATION budget_pub FOR TABLE items`)
          const slot = yield* Slot.ensure("budget_slot")
          // Five transactions of 1 000 rows: 50 parts of 100 changes.
          for (let transaction = 0; transaction < 5; transaction++) {
            yield* sql.unsafe(
              `INSERT INTO items SELECT g, 'item ' || g FROM generate_series(${transaction * 1000 + 1}, ${(transaction + 1) * 1000}) g`
            )
          }
          const stream = yield* ReplicationStream.open({
            url: database.url,
            slot: "budget_slot",
            publication: "budget_pub",
            maxChanges: 100,
            queueCapacity: 1024,
            startLsn: slot.confirmedLsn
          })
          // Capture fills the budget (4 × 100 changes) and waits there.
          yield* eventually(Effect.filterOrFail(Queue.size(stream.parts), (size) => size === 4))
          yield* Effect.sleep("500 millis")
          expect(yield* Queue.size(stream.parts)).toBe(4)
          // Taking parts lets capture go on; every change arrives, in order.
          const ids: Array<number> = []
          while (ids.length < 5000) {
            const part = yield* Queue.take(stream.parts)
            expect(yield* Queue.size(stream.parts)).toBeLessThanOrEqual(4)
            for (const change of part.changes) ids.push(Number(change.new?.id))
          }
          expect(ids).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1))
          expect(Chunk.size(yield* Queue.takeAll(stream.parts))).toBe(0)
        })
    )
  })
})
