import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Fiber, Layer, Ref } from "effect"
import * as Daemon from "../src/Daemon.js"
import type { Sink } from "../src/sinks/Sink.js"
import { awaitLive, eventually, postgresSink, recorder } from "./fixtures/live.js"
import { configYaml, createShop, decode } from "./fixtures/shop.js"

const shop = Layer.provideMerge(Layer.effectDiscard(createShop), TestDatabase.layer)

const heapMegabytes = Effect.sync(() => process.memoryUsage().heapUsed / 1024 / 1024)

describe("Backpressure", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("a slow sink", (it) => {
    it.scoped(
      "while the queue is full, capture waits: memory stays flat under a backlog of 200 000 changes",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const config = yield* decode(
            configYaml("  - { name: tags, table: tags }", "batch: { max_changes: 100 }\nqueue_capacity: 2")
          )
          const real = yield* postgresSink
          const writes = yield* Ref.make(0)
          // A sink that takes 200 ms per batch.
          const sink: Sink = {
            ...real,
            write: (batch) =>
              Effect.sleep("200 millis").pipe(
                Effect.zipRight(Ref.update(writes, (n) => n + 1)),
                Effect.zipRight(real.write(batch))
              )
          }
          const events = yield* recorder
          const daemon = yield* Daemon.run(config, {
            url: database.url,
            sinks: [sink],
            observer: events.observer,
            heartbeatInterval: "5 seconds"
          }).pipe(Effect.forkScoped)
          yield* awaitLive(daemon, events)

          const before = yield* heapMegabytes
          // About 50 MB of WAL in one transaction; decoded into objects it would be several times that.
          yield* sql`INSERT INTO tags SELECT g, repeat('x', 150) || g FROM generate_series(1, 200000) g`
          const startedWrites = yield* Ref.get(writes)
          yield* eventually(
            Effect.filterOrFail(Ref.get(writes), (n) => n >= startedWrites + 20),
            "60 seconds"
          )
          const during = yield* heapMegabytes
          // 20 batches of 100 were written out of 2 000: the rest waits in the server, not here.
          const documents = yield* sql<{
            readonly count: number
          }>`SELECT count(*)::int AS count FROM search.tags`
          expect(documents[0]?.count).toBeLessThan(20_000)
          expect(during - before, `heap grew from ${before} MB to ${during} MB`).toBeLessThan(40)
          yield* Fiber.interrupt(daemon)
        }),
      120_000
    )
  })
})
