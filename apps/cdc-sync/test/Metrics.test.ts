import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Option, Stream } from "effect"
import { eventually } from "./fixtures/live.js"
import { configYaml, createShop, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

/** The value of the sample `name` (with its labels, if any, exactly as printed) in a Prometheus exposition. */
const sample = (exposition: string, name: string): number | undefined => {
  const line = exposition.split("\n").find((candidate) => candidate.startsWith(`${name} `))
  return line === undefined ? undefined : Number(line.slice(name.length + 1).split(" ")[0])
}

describe("Metrics", () => {
  layer(shop, { timeout: 180_000, excludeTestServices: true })("converge-cdc run", (it) => {
    it.scoped(
      "/metrics shows the converge_cdc_* metrics of a real run: backfill, live batches, documents by index, flush time, lag",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const file = join(mkdtempSync(join(tmpdir(), "cdc-metrics-")), "cdc.yaml")
          writeFileSync(
            file,
            configYaml(
              ordersIndexYaml,
              `  url: ${database.url}\nsinks:\n  search: { type: postgres, schema: search }`
            )
          )
          const daemon = yield* ProcessHarness.start({
            command: process.execPath,
            args: ["--import", "tsx", "src/bin.ts", "run", "-c", file, "--port", "0"],
            cwd: appDir
          })
          const url = yield* daemon.output.pipe(
            Stream.filterMap((line) => Option.fromNullable(/http:\/\/127\.0\.0\.1:\d+/.exec(line.text)?.[0])),
            Stream.runHead,
            Effect.flatten,
            Effect.timeout("90 seconds")
          )
          yield* daemon.awaitReady(`${url}/readyz`, { timeout: "90 seconds" })

          // Three transactions: 1 + 2 + 1 changes.
          yield* sql`UPDATE orders SET status = 'shipped' WHERE id = 100`
          yield* sql.withTransaction(
            Effect.zipRight(
              sql`INSERT INTO orders VALUES (104, 1, 'new', 5, NULL)`,
              sql`INSERT INTO order_items VALUES (1004, 104, 'E', 1, 1)`
            )
          )
          yield* sql`UPDATE customers SET name = 'Ada L.' WHERE id = 1`

          const scrape = Effect.tryPromise(() => fetch(`${url}/metrics`).then((response) => response.text()))
          const exposition = yield* eventually(
            Effect.filterOrFail(
              scrape,
              (text) => (sample(text, "converge_cdc_changes_committed_total") ?? 0) >= 4,
              () => "the four changes are not committed yet"
            ),
            "90 seconds"
          )
          expect(sample(exposition, "converge_cdc_live")).toBe(1)
          expect(sample(exposition, 'converge_cdc_backfill_documents_total{index="orders"}')).toBe(3)
          expect(sample(exposition, 'converge_cdc_backfills_total{index="orders"}')).toBe(1)
          expect(sample(exposition, 'converge_cdc_backfill_rows_done{index="orders"}')).toBe(4)
          expect(sample(exposition, "converge_cdc_changes_captured_total")).toBeGreaterThanOrEqual(4)
          expect(sample(exposition, "converge_cdc_transactions_committed_total")).toBeGreaterThanOrEqual(3)
          const batches = sample(exposition, "converge_cdc_batches_total") ?? 0
          expect(batches).toBeGreaterThanOrEqual(1)
          expect(sample(exposition, "converge_cdc_flush_seconds_count")).toBe(batches)
          // Orders 100 and 104 (customer 1 has both): at least once each, however the batches fell.
          expect(
            sample(exposition, 'converge_cdc_documents_written_total{index="orders"}')
          ).toBeGreaterThanOrEqual(2)
          expect(exposition).toContain("# TYPE converge_cdc_flush_seconds histogram")
          expect(exposition).toContain("# TYPE converge_cdc_slot_lag_bytes gauge")
          yield* daemon.kill("SIGTERM")
        }),
      180_000
    )
  })
})
