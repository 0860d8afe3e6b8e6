import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as DaemonProcess from "./fixtures/daemonProcess.js"
import { eventually, expectedDocuments, sinkDocuments } from "./fixtures/live.js"
import { seededShop } from "./fixtures/liveShop.js"
import { configYaml, decode, ordersIndexYaml } from "./fixtures/shop.js"

const statuses = (ids: ReadonlyArray<number>) =>
  Effect.map(sinkDocuments("orders"), (documents) =>
    ids.map((id) => (documents[String(id)] as { readonly status?: string } | undefined)?.status)
  )

describe("Crash points", () => {
  layer(seededShop, { timeout: 300_000, excludeTestServices: true })("a real daemon process", (it) => {
    it.scoped(
      "SIGKILL between two batches of one transaction, after the first batch's write and before any acknowledgement: nothing is lost, the restart replays to the same final state",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const ids = Array.from({ length: 12 }, (_, i) => 2000 + i)
          yield* sql`INSERT INTO orders SELECT g, 1, 'placed', g, NULL FROM generate_series(2000, 2011) g`
          // Batches of 5 changes: the 12-row transaction below comes in three parts, only the last final.
          const yaml = configYaml(
            ordersIndexYaml,
            `  url: ${database.url}\nsinks:\n  search: { type: postgres, schema: search }\nbatch: { max_changes: 5 }`
          )
          const config = yield* decode(yaml)
          const configFile = join(mkdtempSync(join(tmpdir(), "cdc-crash-points-")), "cdc.yaml")
          writeFileSync(configFile, yaml)

          const first = yield* DaemonProcess.start(configFile)
          yield* first.awaitReady(`${yield* DaemonProcess.statusUrl(first)}/readyz`, {
            timeout: "90 seconds"
          })
          yield* eventually(
            Effect.flatMap(statuses(ids), (seen) =>
              Effect.try(() => expect(seen).toEqual(ids.map(() => "placed")))
            ),
            "60 seconds"
          )

          // The second batch blocks: its sink row is locked by a transaction of the test's own.
          const lock = yield* sql.reserve
          yield* lock.executeRaw("BEGIN", [])
          yield* lock.executeRaw("SELECT 1 FROM search.orders WHERE id = '2007' FOR UPDATE", [])
          // The transaction, and a WAL position inside it: its commit record comes after that.
          const [inside] = yield* sql.withTransaction(
            Effect.zipRight(
              sql`UPDATE orders SET status = 'moved' WHERE id BETWEEN 2000 AND 2011`,
              sql<{ readonly lsn: string }>`SELECT pg_current_wal_insert_lsn()::text AS lsn`
            )
          )
          // The first batch (orders 2000–2004) is written; the rest waits behind the lock.
          yield* eventually(
            Effect.flatMap(statuses(ids), (seen) =>
              Effect.try(() => {
                expect(seen.slice(0, 5)).toEqual(ids.slice(0, 5).map(() => "moved"))
                expect(seen.slice(5)).toEqual(ids.slice(5).map(() => "placed"))
              })
            ),
            "60 seconds"
          )
          // Nothing of the transaction is acknowledged: only its last (final) part may be, and
          // acknowledging it puts the slot past its commit record.
          const [slot] = yield* sql<{ readonly unacknowledged: boolean }>`
            SELECT confirmed_flush_lsn <= ${inside?.lsn ?? "0/0"}::pg_lsn AS unacknowledged
            FROM pg_replication_slots WHERE slot_name = 'shop_slot'`
          expect(slot?.unacknowledged).toBe(true)

          const exit = yield* first.kill("SIGKILL")
          expect(exit.signal).toBe("SIGKILL")
          yield* lock.executeRaw("ROLLBACK", [])

          const second = yield* DaemonProcess.start(configFile)
          yield* second.awaitReady(`${yield* DaemonProcess.statusUrl(second)}/readyz`, {
            timeout: "90 seconds"
          })
          const expected = yield* expectedDocuments(config)
          yield* eventually(
            Effect.flatMap(sinkDocuments("orders"), (actual) =>
              Effect.try(() => expect(actual).toEqual(expected))
            ),
            "60 seconds"
          )
          expect(yield* statuses(ids)).toEqual(ids.map(() => "moved"))
          // Now the whole transaction is acknowledged: the same check on the slot turns false.
          yield* eventually(
            Effect.flatMap(
              sql<{ readonly unacknowledged: boolean }>`
                SELECT confirmed_flush_lsn <= ${inside?.lsn ?? "0/0"}::pg_lsn AS unacknowledged
                FROM pg_replication_slots WHERE slot_name = 'shop_slot'`,
              ([row]) => Effect.try(() => expect(row?.unacknowledged).toBe(false))
            ),
            "60 seconds"
          )
          yield* second.kill("SIGTERM")
        }),
      300_000
    )
  })
})
