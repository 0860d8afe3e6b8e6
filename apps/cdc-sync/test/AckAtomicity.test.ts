import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber, Ref } from "effect"
import type { Sink } from "../src/sinks/Sink.js"
import { eventually, postgresSink, sinkDocuments } from "./fixtures/live.js"
import { converged as convergedTo, seededShop as shop, startDaemon } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

/**
 * The real postgres sink with a trap: once armed, the `call`-th write of documents (or flush of
 * written documents) signals `reached` and never returns — the process "dies" right there.
 */
const trapped = (sink: Sink, at: { readonly operation: "write" | "flush"; readonly call: number }) =>
  Effect.gen(function* () {
    const armed = yield* Ref.make(false)
    const calls = yield* Ref.make(0)
    const reached = yield* Deferred.make<void>()
    const dirty = yield* Ref.make(false)
    const trap = (operation: "write" | "flush") =>
      Effect.gen(function* () {
        // Batches of heartbeat transactions write nothing: they do not count.
        if (!(yield* Ref.getAndSet(dirty, false)) && operation === "flush") return
        if (!(yield* Ref.get(armed)) || operation !== at.operation) return
        if ((yield* Ref.updateAndGet(calls, (n) => n + 1)) === at.call) {
          yield* Deferred.succeed(reached, undefined)
          return yield* Effect.never
        }
      })
    const wrapped: Sink = {
      ...sink,
      write: (writes) =>
        writes.length === 0
          ? sink.write(writes)
          : trap("write").pipe(Effect.zipRight(Ref.set(dirty, true)), Effect.zipRight(sink.write(writes))),
      flush: Effect.zipRight(trap("flush"), sink.flush)
    }
    return { sink: wrapped, arm: Ref.set(armed, true), reached: Deferred.await(reached) }
  })

describe("Acknowledgements", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped(
      "a crash between two batches of one large transaction, or between write and flush, loses nothing",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const config = yield* decode(configYaml(ordersIndexYaml, "batch: { max_changes: 5 }"))
          const real = yield* postgresSink
          // How many changes of `kind` (I insert, U update) wait in the slot, once no session streams from it.
          const pendingInSlot = (kind: "I" | "U") =>
            eventually(
              sql<{ readonly count: number }>`
                SELECT count(*)::int AS count
                FROM pg_logical_slot_peek_binary_changes('shop_slot', NULL, NULL,
                       'proto_version', '1', 'publication_names', 'shop_pub')
                WHERE get_byte(data, 0) = ascii(${kind})`.pipe(Effect.map(([row]) => row?.count ?? 0))
            )
          // Waits until the running daemon acknowledged everything committed so far (heartbeats move it on).
          const settled = Effect.gen(function* () {
            const [now] = yield* sql<{
              readonly lsn: string
            }>`SELECT pg_current_wal_insert_lsn()::text AS lsn`
            yield* eventually(
              sql<{ readonly done: boolean }>`
                SELECT confirmed_flush_lsn >= ${now?.lsn ?? "0/0"}::pg_lsn AS done
                FROM pg_replication_slots WHERE slot_name = 'shop_slot'`.pipe(
                Effect.filterOrFail(([row]) => row?.done === true)
              )
            )
          })
          const converged = convergedTo(config)
          const start = (sink: Sink) => Effect.map(startDaemon(config, { sink }), ({ daemon }) => daemon)
          // One transaction of 40 changes (8 parts of 5).
          const largeTransaction = (status: string) =>
            sql.withTransaction(
              Effect.gen(function* () {
                yield* sql`INSERT INTO orders SELECT g, 1, ${status}, g, NULL FROM generate_series(600, 619) g
                         ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status`
                yield* sql`INSERT INTO order_items SELECT g + 5000, g, ${status}, 1, 1 FROM generate_series(600, 619) g
                         ON CONFLICT (id) DO UPDATE SET sku = EXCLUDED.sku`
              })
            )

          // 1. The process dies after the first part of the transaction was written and flushed.
          const first = yield* trapped(real, { operation: "write", call: 2 })
          const daemon1 = yield* start(first.sink)
          yield* converged
          yield* settled
          yield* first.arm
          yield* largeTransaction("first")
          yield* first.reached
          const written = Object.values(yield* sinkDocuments("orders")).filter(
            (document) => (document as { readonly status: string }).status === "first"
          )
          expect(written.length).toBeGreaterThan(0)
          expect(written.length).toBeLessThan(20)
          // The slot never moved to the transaction's commit: only a prefix of it was flushed.
          // The slot never moved past the transaction: all 40 inserts wait for the next start.
          yield* Fiber.interrupt(daemon1)
          expect(yield* pendingInSlot("I")).toBe(40)
          const daemon2 = yield* start(real)
          yield* converged
          yield* settled
          yield* Fiber.interrupt(daemon2)

          // 2. The process dies after a write, before its flush: the replay reaches the same state.
          const second = yield* trapped(real, { operation: "flush", call: 1 })
          const daemon3 = yield* start(second.sink)
          yield* second.arm
          yield* largeTransaction("second")
          yield* second.reached
          yield* Fiber.interrupt(daemon3)
          expect(yield* pendingInSlot("U")).toBe(40)
          const daemon4 = yield* start(real)
          yield* converged
          const documents = yield* sinkDocuments("orders")
          expect(Object.keys(documents).filter((id) => Number(id) >= 600)).toHaveLength(20)
          yield* Fiber.interrupt(daemon4)
        })
    )
  })
})
