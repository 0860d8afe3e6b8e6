import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Ref } from "effect"
import type { CdcEvent } from "../src/observe/CdcEvent.js"
import type { Sink } from "../src/sinks/Sink.js"
import { postgresSink } from "./fixtures/live.js"
import { converged as convergedTo, seededShop as shop, startDaemon } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

describe("Group flush", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped(
      "a backed-up slot shares one flush among several batches; the sink still equals the source",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const config = yield* decode(configYaml(ordersIndexYaml, "batch: { max_changes: 5 }"))
          const real = yield* postgresSink
          const writes = yield* Ref.make(0)
          const flushes = yield* Ref.make(0)
          const dirty = yield* Ref.make(false)
          // A slow sink (real time): the next batches are built while one is written.
          const slow: Sink = {
            ...real,
            write: (documents) =>
              documents.length === 0
                ? real.write(documents)
                : Effect.sleep("30 millis").pipe(
                    Effect.zipRight(Ref.update(writes, (n) => n + 1)),
                    Effect.zipRight(Ref.set(dirty, true)),
                    Effect.zipRight(real.write(documents))
                  ),
            flush: Effect.gen(function* () {
              if (yield* Ref.getAndSet(dirty, false)) yield* Ref.update(flushes, (n) => n + 1)
              yield* real.flush
            })
          }
          const { daemon, events } = yield* startDaemon(config, { sink: slow })
          const converged = convergedTo(config)
          yield* converged
          yield* Ref.set(writes, 0)
          yield* Ref.set(flushes, 0)
          // 60 transactions of one change each, committed at once: 12+ batches of 5.
          yield* Effect.forEach(
            Array.from({ length: 60 }, (_, i) => 700 + i),
            (id) => sql`INSERT INTO orders VALUES (${id}, 1, 'grouped', ${id}, NULL)`,
            { discard: true }
          )
          yield* converged
          const written = yield* Ref.get(writes)
          const flushed = yield* Ref.get(flushes)
          expect(written).toBeGreaterThanOrEqual(12)
          expect(flushed).toBeGreaterThan(0)
          expect(flushed).toBeLessThan(written)
          // Every batch is reported once, after the flush that covers it.
          const committed = (yield* events.events).filter(
            (event): event is Extract<CdcEvent, { readonly _tag: "BatchCommitted" }> =>
              event._tag === "BatchCommitted"
          )
          expect(committed.reduce((sum, event) => sum + event.changes, 0)).toBeGreaterThanOrEqual(60)
          yield* Fiber.interrupt(daemon)
        })
    )
  })
})
