import { TestDatabase } from "@converge/testing"
import { NodeHttpClient } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Exit, Fiber, Layer } from "effect"
import * as Daemon from "../src/Daemon.js"
import * as CdcStatus from "../src/observe/CdcStatus.js"
import * as WebhookSink from "../src/sinks/WebhookSink.js"
import {
  awaitLive,
  eventually,
  expectedDocuments,
  pendingUpdates,
  postgresSinkIn,
  recorder
} from "./fixtures/live.js"
import { configYaml, createShop, decode, ordersIndexYaml, seedShop } from "./fixtures/shop.js"
import * as WebhookReceiver from "./fixtures/WebhookReceiver.js"

const shop = Layer.mergeAll(
  Layer.provideMerge(Layer.effectDiscard(Effect.zipRight(createShop, seedShop)), TestDatabase.layer),
  NodeHttpClient.layerUndici
)

const webhookSink = (url: string) =>
  WebhookSink.make({
    name: "hooks",
    url,
    timeout: "5 seconds",
    maxBatch: 100,
    attempts: 3,
    retryDelay: "20 millis",
    stateSchema: "converge_cdc"
  })

const slotState = (slot: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly confirmed: string; readonly lag: number }>`
      SELECT confirmed_flush_lsn::text AS confirmed,
             pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag
      FROM pg_replication_slots WHERE slot_name = ${slot}`.pipe(
      Effect.flatMap(([row]) => (row === undefined ? Effect.die(`no slot ${slot}`) : Effect.succeed(row)))
    )
  )

describe("Webhook sink, live", () => {
  layer(shop, { timeout: 180_000, excludeTestServices: true })("on the shop", (it) => {
    it.scoped(
      "sink down (refused, then 503): retries with backoff, acknowledges nothing, lag grows, then recovers with nothing lost",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const receiver = yield* WebhookReceiver.start
          const config = yield* decode(configYaml(ordersIndexYaml))
          const events = yield* recorder
          const daemon = yield* Daemon.run(config, {
            url: database.url,
            sinks: [yield* webhookSink(receiver.url)],
            observer: events.observer,
            heartbeatInterval: "100 millis",
            lagPollInterval: "100 millis",
            maxRetryDelay: "300 millis"
          }).pipe(Effect.forkScoped)
          const converged = eventually(
            Effect.gen(function* () {
              const expected = yield* expectedDocuments(config)
              const actual = yield* receiver.documents("orders")
              return yield* Effect.try(() => expect(actual).toEqual(expected))
            })
          )
          yield* awaitLive(daemon, events)
          yield* converged
          // The backfill marked the index seeded in the source database.
          const [marker] = yield* sql<{ readonly index: string }>`
            SELECT index FROM converge_cdc._converge_webhook_seeded WHERE sink = 'hooks'`
          expect(marker?.index).toBe("orders")

          const errorCount = Effect.map(
            events.events,
            (all) => all.filter((event) => event._tag === "ErrorOccurred").length
          )
          const errorsAtLeast = (count: number) =>
            eventually(Effect.filterOrFail(errorCount, (errors) => errors >= count))

          // 1. The receiver refuses connections.
          yield* receiver.refuse
          yield* sql`UPDATE orders SET status = 'changed while refused' WHERE id = 100`
          yield* errorsAtLeast((yield* errorCount) + 2)
          const stuck = yield* slotState("shop_slot")
          yield* sql`INSERT INTO orders VALUES (500, 1, 'inserted while refused', 5, NULL)`
          yield* errorsAtLeast((yield* errorCount) + 3)
          const later = yield* slotState("shop_slot")
          // Nothing acknowledged while the batch cannot be written, heartbeats notwithstanding; lag grows.
          expect(later.confirmed).toBe(stuck.confirmed)
          expect(later.lag).toBeGreaterThan(stuck.lag)
          const refusedError = (yield* events.events).filter((event) => event._tag === "ErrorOccurred").at(-1)
          expect(refusedError).toMatchObject({ retrying: true })
          expect(refusedError?._tag === "ErrorOccurred" && refusedError.message).toContain("failed 3 times")

          // 2. It answers again, but 503 to everything: each batch is retried with backoff by the sink too.
          yield* receiver.setMode({ _tag: "status", status: 503 })
          yield* receiver.resume
          yield* sql`UPDATE orders SET status = 'changed while 503' WHERE id = 101`
          yield* errorsAtLeast((yield* errorCount) + 3)
          expect((yield* slotState("shop_slot")).confirmed).toBe(stuck.confirmed)
          const unavailable = (yield* receiver.requests).filter((request) => request.status === 503)
          expect(unavailable.length).toBeGreaterThanOrEqual(6)
          // Retries of one batch carry one idempotency key.
          const keys = new Map<string, number>()
          for (const request of unavailable) {
            keys.set(request.idempotencyKey ?? "", (keys.get(request.idempotencyKey ?? "") ?? 0) + 1)
          }
          expect(Math.max(...keys.values())).toBeGreaterThanOrEqual(3)
          const lastError = (yield* events.events).filter((event) => event._tag === "ErrorOccurred").at(-1)
          expect(lastError?._tag === "ErrorOccurred" && lastError.message).toContain("answered 503")

          // 3. The receiver recovers: everything arrives and the slot moves on.
          yield* receiver.setMode({ _tag: "accept" })
          yield* converged
          const documents = yield* receiver.documents("orders")
          expect(documents["100"]).toMatchObject({ status: "changed while refused" })
          expect(documents["101"]).toMatchObject({ status: "changed while 503" })
          expect(documents["500"]).toMatchObject({ status: "inserted while refused" })
          yield* eventually(
            Effect.flatMap(slotState("shop_slot"), (state) =>
              Effect.try(() => expect(state.confirmed).not.toBe(stuck.confirmed))
            )
          )
          yield* Fiber.interrupt(daemon)
        })
    )

    it.scoped(
      "a batch the pipeline redelivers (another sink failed) reaches the receiver with the same key",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const receiver = yield* WebhookReceiver.start
          const events = yield* recorder
          const config = yield* decode(
            configYaml(`  - { name: redelivered, table: orders, fields: [id, status] }`).replace(
              "slot: shop_slot",
              "slot: redelivery_slot"
            )
          )
          const daemon = yield* Daemon.run(config, {
            url: database.url,
            sinks: [yield* webhookSink(receiver.url), yield* postgresSinkIn("redelivery")],
            observer: events.observer,
            heartbeatInterval: "100 millis",
            maxRetryDelay: "200 millis"
          }).pipe(Effect.forkScoped)
          yield* awaitLive(daemon, events)
          // The postgres sink fails as a whole: the pipeline retries the batch, the webhook gets it again.
          yield* sql`ALTER TABLE redelivery.redelivered RENAME TO away`
          yield* sql`UPDATE orders SET status = 'redelivered' WHERE id = 103`
          const deliveries = Effect.map(receiver.requests, (requests) =>
            requests.filter((request) =>
              request.body.writes?.some(
                (write) => (write.document as { readonly status?: string } | null)?.status === "redelivered"
              )
            )
          )
          yield* eventually(Effect.filterOrFail(deliveries, (found) => found.length >= 3))
          const keys = new Set((yield* deliveries).map((request) => request.idempotencyKey))
          expect(keys.size).toBe(1)
          yield* sql`ALTER TABLE redelivery.away RENAME TO redelivered`
          yield* eventually(
            sql<{ readonly status: string }>`
            SELECT document->>'status' AS status FROM redelivery.redelivered WHERE id = '103'`.pipe(
              Effect.filterOrFail(([row]) => row?.status === "redelivered")
            )
          )
          yield* Fiber.interrupt(daemon)
        })
    )

    it.scoped(
      "receiver rejections follow on_error per index: skip goes on, dead_letter stores, stop halts",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const receiver = yield* WebhookReceiver.start
          yield* receiver.setMode({
            _tag: "reject",
            reject: (write) =>
              (write.document as { readonly status?: string } | null)?.status === "bad"
                ? "status must not be bad"
                : undefined
          })
          const run = (yaml: string) =>
            Effect.gen(function* () {
              const events = yield* recorder
              const fiber = yield* Daemon.run(yield* decode(yaml), {
                url: database.url,
                sinks: [yield* webhookSink(receiver.url)],
                observer: events.observer,
                heartbeatInterval: "100 millis"
              }).pipe(Effect.forkScoped)
              yield* awaitLive(fiber, events)
              return { fiber, events }
            })

          const both = yield* run(
            configYaml(
              `  - { name: skipped, table: orders, fields: [id, status], on_error: skip }
  - { name: dead, table: orders, fields: [id, status], on_error: dead_letter }`
            ).replace("slot: shop_slot", "slot: skip_slot")
          )
          const before = (yield* receiver.documents("skipped"))["100"]
          expect(before).toMatchObject({ id: 100 })
          yield* sql`UPDATE orders SET status = 'bad' WHERE id = 100`
          yield* sql`UPDATE orders SET status = 'fine' WHERE id = 101`
          yield* eventually(
            Effect.gen(function* () {
              const skipped = yield* receiver.documents("skipped")
              const dead = yield* receiver.documents("dead")
              return yield* Effect.try(() => {
                expect(skipped["101"]).toMatchObject({ status: "fine" })
                expect(dead["101"]).toMatchObject({ status: "fine" })
              })
            })
          )
          // The receiver holds 101 before the sink's answer is processed: wait for the pipeline's verdict on 100.
          const quarantinedEvents = Effect.map(both.events.events, (all) =>
            all.filter((event) => event._tag === "DocumentQuarantined")
          )
          yield* eventually(Effect.filterOrFail(quarantinedEvents, (found) => found.length >= 2))
          const quarantined = yield* quarantinedEvents
          expect(quarantined).toEqual([
            expect.objectContaining({ index: "skipped", id: "100", policy: "skip", sink: "hooks" }),
            expect.objectContaining({ index: "dead", id: "100", policy: "dead_letter", sink: "hooks" })
          ])
          // The rejected version never arrived: the receiver still has the one before it.
          expect((yield* receiver.documents("skipped"))["100"]).toEqual(before)
          // skip is counted as quarantined in /status.
          const status = (yield* both.events.events).reduce(
            CdcStatus.reduce,
            CdcStatus.initial(new Date(), ["skipped", "dead"])
          )
          expect(status.quarantined).toBe(quarantined.length)
          const letters = yield* sql<{
            readonly index: string
            readonly documentId: string
            readonly reason: string
          }>`
          SELECT index, document_id AS "documentId", reason FROM converge_cdc._converge_webhook_dead_letters`
          expect(letters).toEqual([{ index: "dead", documentId: "100", reason: "status must not be bad" }])
          yield* Fiber.interrupt(both.fiber)

          // The same rejection under `stop`: the daemon halts and its slot keeps the change.
          yield* sql`UPDATE orders SET status = 'paid' WHERE id = 100`
          const stopped = yield* run(
            configYaml(`  - { name: halted, table: orders, fields: [id, status], on_error: stop }`).replace(
              "slot: shop_slot",
              "slot: stop_slot"
            )
          )
          yield* sql`UPDATE orders SET status = 'bad' WHERE id = 102`
          const exit = yield* Fiber.await(stopped.fiber)
          expect(Exit.isFailure(exit)).toBe(true)
          expect(String(Exit.isFailure(exit) ? exit.cause : "")).toContain("DocumentsRejected")
          // The rejected change is still in the slot, waiting for the next start.
          expect(yield* pendingUpdates("stop_slot")).toBe(1)
        })
    )
  })
})
