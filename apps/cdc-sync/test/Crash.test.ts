import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Config, Effect, Fiber, Ref } from "effect"
import * as DaemonProcess from "./fixtures/daemonProcess.js"
import { eventually, expectedDocuments, sinkDocuments } from "./fixtures/live.js"
import { seededShop } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

/** A small deterministic generator, so a failing run can be replayed from its printed seed. */
const generator = (seed: number) => {
  let state = seed >>> 0
  return (below: number) => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (((t ^ (t >>> 14)) >>> 0) % below) as number
  }
}

describe("Crashes", () => {
  layer(seededShop, { timeout: 600_000, excludeTestServices: true })(
    "a random workload while the daemon is killed",
    (it) => {
      it.scoped(
        "after SIGKILLs at random points and restarts, the sink equals the source's documents exactly",
        () =>
          Effect.gen(function* () {
            const soak = yield* Config.boolean("CONVERGE_SOAK").pipe(Config.withDefault(false))
            const kills = soak ? 200 : 20
            const seed = Date.now() % 1_000_000
            console.log(`crash test seed ${seed}, ${kills} kills`)
            const random = generator(seed)
            const sql = yield* SqlClient.SqlClient
            const database = yield* TestDatabase.TestDatabase
            yield* sql`INSERT INTO orders SELECT g, 1 + g % 2, 'seed', g, NULL FROM generate_series(1000, 1499) g`
            yield* sql`INSERT INTO order_items SELECT 10000 + g, g, 'S' || g, 1, g % 7 FROM generate_series(1000, 1499) g`
            yield* sql`INSERT INTO order_tags SELECT g, 1 + g % 3 FROM generate_series(1000, 1499) g`

            // Batches of 5 changes: the workload's 12-change transactions always span several batches.
            const yaml = configYaml(
              ordersIndexYaml,
              `  url: ${database.url}\nsinks:\n  search: { type: postgres, schema: search }\nbatch: { max_changes: 5 }`
            )
            const config = yield* decode(yaml)
            const configFile = join(mkdtempSync(join(tmpdir(), "cdc-crash-")), "cdc.yaml")
            writeFileSync(configFile, yaml)

            // The workload: inserts, updates, deletes, re-parenting and primary-key changes, alone or in larger transactions.
            const nextId = yield* Ref.make(5000)
            const step = Effect.gen(function* () {
              const id = yield* Ref.getAndUpdate(nextId, (n) => n + 1)
              const order = 1000 + random(500)
              const other = 1000 + random(500)
              switch (random(8)) {
                case 0:
                  return yield* sql`INSERT INTO orders VALUES (${id}, ${1 + random(2)}, 'new', ${random(100)}, NULL)`
                case 1:
                  return yield* sql`UPDATE orders SET status = ${`s${random(1000)}`} WHERE id = ${order}`
                case 2:
                  return yield* sql`UPDATE order_items SET order_id = ${other} WHERE order_id = ${order}`
                case 3:
                  return yield* sql`DELETE FROM order_items WHERE id IN (SELECT id FROM order_items WHERE order_id = ${order} LIMIT 1)`
                case 4:
                  return yield* sql`INSERT INTO order_items SELECT ${id + 100_000}, id, 'i', 1, ${random(9)} FROM orders WHERE id = ${order}`
                case 5:
                  return yield* sql`UPDATE orders SET id = ${id} WHERE id = ${order} AND NOT EXISTS (SELECT 1 FROM order_items WHERE order_id = ${order}) AND NOT EXISTS (SELECT 1 FROM order_tags WHERE order_id = ${order})`
                case 6:
                  // A customer's name is in about half the documents: change it rarely.
                  return random(25) === 0
                    ? yield* sql`UPDATE customers SET name = ${`c${random(1000)}`} WHERE id = ${1 + random(2)}`
                    : yield* sql`UPDATE orders SET total = ${random(1000)} WHERE id = ${order}`
                default:
                  return yield* sql`DELETE FROM order_tags WHERE order_id = ${order}`
              }
            }).pipe(Effect.catchTag("SqlError", () => Effect.void))
            // About 50 operations a second, so that catching up after the last restart stays short.
            const workload = Effect.forever(
              Effect.zipRight(
                Effect.suspend(() =>
                  random(8) === 0 ? sql.withTransaction(Effect.repeatN(step, 11)).pipe(Effect.ignore) : step
                ),
                Effect.sleep("20 millis")
              )
            )
            const writer = yield* Effect.forkScoped(workload)

            for (let kill = 0; kill < kills; kill++) {
              const daemon = yield* DaemonProcess.start(configFile)
              // Every fourth run reaches live capture first; the others die wherever the delay lands (start, backfill, live).
              if (kill % 4 === 0)
                yield* daemon.awaitReady(`${yield* DaemonProcess.statusUrl(daemon)}/readyz`, {
                  timeout: "90 seconds"
                })
              yield* Effect.sleep(`${100 + random(1500)} millis`)
              const exit = yield* daemon.kill("SIGKILL")
              if (kill % 5 === 4) console.log(`crash test: ${kill + 1} kills`)
              expect(exit.signal === "SIGKILL" || exit.code !== 0).toBe(true)
            }
            yield* Fiber.interrupt(writer)

            const daemon = yield* DaemonProcess.start(configFile)
            const url = yield* DaemonProcess.statusUrl(daemon)
            yield* daemon.awaitReady(`${url}/readyz`, { timeout: "90 seconds" })
            const expected = yield* expectedDocuments(config)
            yield* eventually(
              Effect.flatMap(sinkDocuments("orders"), (actual) =>
                Effect.try(() => expect(actual).toEqual(expected))
              ),
              "120 seconds"
            )
            expect(Object.keys(expected).length).toBeGreaterThan(400)
            // The process's /status after the catch-up.
            const status = yield* Effect.tryPromise(() =>
              fetch(`${url}/status`).then((response) => response.json())
            )
            expect(status).toMatchObject({ phase: "live", indexes: { orders: "seeded" }, lastError: null })
            expect((status as { readonly batches: number }).batches).toBeGreaterThan(0)
            yield* daemon.kill("SIGTERM")
          }),
        600_000
      )
    }
  )
})
