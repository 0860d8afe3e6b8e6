import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { TestDatabase } from "@converge/testing"
import { NodeContext } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as OneShot from "../src/backfill/OneShot.js"
import { configYaml, createShop, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const shop = Layer.mergeAll(
  Layer.provideMerge(Layer.effectDiscard(Effect.zipRight(createShop, seedShop)), TestDatabase.layer),
  NodeContext.layer
)

describe("converge-cdc backfill (one-shot)", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("against the shop", (it) => {
    it.scoped(
      "seeds what is not seeded, skips what is, and --force backfills it again (repairing drift)",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const configFile = join(mkdtempSync(join(tmpdir(), "cdc-oneshot-")), "cdc.yaml")
          writeFileSync(
            configFile,
            configYaml(
              ordersIndexYaml,
              `  url: ${database.url}\nsinks:\n  search: { type: postgres, schema: search }`
            )
          )
          const statusOf100 = sql<{ readonly status: string | null }>`
          SELECT document->>'status' AS status FROM search.orders WHERE id = '100'`.pipe(
            Effect.map(([row]) => row?.status ?? null)
          )

          expect(yield* OneShot.run({ configFile, indexes: [], force: false })).toEqual(["orders"])
          expect(yield* statusOf100).toBe("paid")
          const [slot] = yield* sql<{ readonly slots: number; readonly publications: number }>`
          SELECT (SELECT count(*)::int FROM pg_replication_slots WHERE slot_name = 'shop_slot') AS slots,
                 (SELECT count(*)::int FROM pg_publication WHERE pubname = 'shop_pub') AS publications`
          expect(slot).toEqual({ slots: 1, publications: 1 })

          // Drift that only a backfill repairs: a plain run skips the seeded index, --force rewrites it.
          yield* sql`UPDATE search.orders SET document = '{"status":"drifted"}' WHERE id = '100'`
          yield* OneShot.run({ configFile, indexes: [], force: false })
          expect(yield* statusOf100).toBe("drifted")
          yield* OneShot.run({ configFile, indexes: ["orders"], force: true })
          expect(yield* statusOf100).toBe("paid")

          const unknown = yield* Effect.flip(OneShot.run({ configFile, indexes: ["nope"], force: true }))
          expect(unknown.message).toBe('unknown index "nope": the configuration defines "orders"')
        })
    )
  })
})
