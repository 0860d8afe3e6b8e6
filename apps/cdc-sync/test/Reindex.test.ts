import { TestDatabase } from "@converge/testing"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Ref } from "effect"
import * as AdminServer from "../src/admin/AdminServer.js"
import * as Daemon from "../src/Daemon.js"
import * as Reindexer from "../src/reindex/Reindexer.js"
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

const post = (url: string, body?: unknown) =>
  Effect.gen(function* () {
    const client = yield* HttpClient.HttpClient
    const request =
      body === undefined
        ? HttpClientRequest.post(url)
        : typeof body === "string"
          ? HttpClientRequest.bodyText(HttpClientRequest.post(url), body, "application/json")
          : HttpClientRequest.bodyUnsafeJson(HttpClientRequest.post(url), body)
    const response = yield* client.execute(request)
    return { status: response.status, body: (yield* response.json) as Record<string, unknown> }
  }).pipe(Effect.scoped, Effect.provide(FetchHttpClient.layer), Effect.orDie)

describe("Reindex", () => {
  layer(shop, { timeout: 180_000, excludeTestServices: true })("on the shop, live", (it) => {
    it.scoped(
      "POST /reindex rebuilds the index from a snapshot while a writer changes rows; readers never see it missing or empty",
      () =>
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
            heartbeatInterval: "200 millis",
            lagPollInterval: "200 millis"
          }).pipe(Effect.forkScoped)
          yield* awaitLive(daemon, events)
          const reindexer = yield* Reindexer.make(config, [sink], events.observer, { pageSize: 50 })
          const admin = yield* Layer.build(AdminServer.layer({ port: 0, reindexer })).pipe(
            Effect.map(Context.get(AdminServer.AdminServer))
          )

          // Drift the serving generation (as a bug or a changed mapping would): a reindex must repair it.
          yield* sql`UPDATE search.orders SET document = '{"drifted": true}' WHERE id IN ('1000', '1001', '1002')`
          const [before] = yield* sql<{
            readonly oid: number
          }>`SELECT 'search.orders'::regclass::oid::int AS oid`

          // A reader of search.orders all along: it must never fail nor see the index empty.
          const reads = yield* Ref.make<ReadonlyArray<number>>([])
          const reader = yield* sql<{ readonly live: number }>`
            SELECT count(*)::int AS live FROM search.orders WHERE document IS NOT NULL`.pipe(
            Effect.flatMap(([row]) => Ref.update(reads, (all) => [...all, row?.live ?? 0])),
            Effect.forever,
            Effect.forkScoped
          )

          const started = yield* post(`${admin.url}/reindex?index=orders`)
          expect(started).toEqual({ status: 202, body: { started: "orders" } })
          const again = yield* post(`${admin.url}/reindex`, { index: "orders" })
          expect(again.status).toBe(409)
          expect(again.body.error).toContain('index "orders" is already reindexing')
          const unknown = yield* post(`${admin.url}/reindex?index=nope`)
          expect(unknown.status).toBe(404)
          expect(unknown.body.error).toBe('unknown index "nope": the configuration defines "orders"')
          const unnamed = yield* post(`${admin.url}/reindex`)
          expect(unnamed.status).toBe(400)
          const garbled = yield* post(`${admin.url}/reindex`, "{index:")
          expect(garbled.status).toBe(400)
          expect(garbled.body.error).toContain('the body is not {"index":"NAME"}')

          // The writer keeps changing roots and children until the swap, and a little after.
          let next = 5000
          let writtenDuringReindex = 0
          while (!(yield* events.has("ReindexCompleted"))) {
            const ended = yield* Fiber.poll(daemon)
            if (Option.isSome(ended))
              return yield* Effect.dieMessage(`the daemon stopped: ${String(ended.value)}`)
            if (yield* events.has("ReindexFailed")) return yield* Effect.dieMessage("the reindex failed")
            yield* sql`INSERT INTO orders VALUES (${next}, 2, 'during', 1, NULL)`
            yield* sql`INSERT INTO order_items VALUES (${next + 20000}, ${next}, 'new', 1, 1)`
            yield* sql`UPDATE order_items SET order_id = ${next} WHERE id = ${next + 6000}`
            yield* sql`UPDATE orders SET status = 'changed' WHERE id = ${next - 3000}`
            yield* sql`DELETE FROM order_items WHERE id = ${next + 6500}`
            writtenDuringReindex++
            next++
          }
          for (let i = 0; i < 20; i++, next++) {
            yield* sql`INSERT INTO orders VALUES (${next}, 1, 'after', 2, NULL)`
          }
          expect(writtenDuringReindex).toBeGreaterThan(0)
          const expected = yield* expectedDocuments(config)
          yield* eventually(
            Effect.flatMap(sinkDocuments("orders"), (actual) =>
              Effect.try(() => expect(actual).toEqual(expected))
            )
          )
          // The reader never failed (a missing table would have ended it with an error).
          expect(Option.isNone(yield* Fiber.poll(reader))).toBe(true)
          yield* Fiber.interrupt(reader)

          // A new table serves (the drifted rows were rebuilt from the source), under the serving names.
          const [after] = yield* sql<{
            readonly oid: number
          }>`SELECT 'search.orders'::regclass::oid::int AS oid`
          expect(after?.oid).not.toBe(before?.oid)
          const relations = yield* sql<{ readonly name: string }>`
            SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'search' AND c.relname LIKE 'orders%' ORDER BY 1`
          expect(relations.map((row) => row.name)).toEqual(["orders", "orders_pkey", "orders_search"])
          const found = yield* sql<{ readonly id: string }>`
            SELECT id FROM search.orders WHERE search @@ to_tsquery('simple', 'after') ORDER BY id`
          expect(found.length).toBe(20)

          const seen = yield* reads
          expect(seen.length).toBeGreaterThan(10)
          expect(Math.min(...seen)).toBeGreaterThanOrEqual(2000)
          const completed = (yield* events.events).find((event) => event._tag === "ReindexCompleted")
          expect(completed).toMatchObject({ index: "orders" })
          const progress = (yield* events.events).filter((event) => event._tag === "BackfillProgress")
          expect(progress.length).toBeGreaterThan(10)
          expect(yield* reindexer.running).toEqual([])
          const listed = yield* Effect.tryPromise(() =>
            fetch(`${admin.url}/reindex`).then((response) => response.json())
          ).pipe(Effect.orDie)
          expect(listed).toEqual({ running: [] })
          const [marker] = yield* sql<{ readonly lsn: string }>`
            SELECT snapshot_lsn::text AS lsn FROM search._converge_seeded WHERE index = 'orders'`
          expect(marker?.lsn).toBe(completed?._tag === "ReindexCompleted" ? completed.lsn : "")
          yield* Fiber.interrupt(daemon)
        }),
      180_000
    )
  })
})
