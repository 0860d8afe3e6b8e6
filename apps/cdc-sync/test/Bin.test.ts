import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Effect, Layer, Stream } from "effect"
import { configYaml, createShop, ordersIndexYaml } from "./fixtures/shop.js"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const shop = Layer.provideMerge(Layer.effectDiscard(createShop), TestDatabase.layer)

const converge = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const child = yield* ProcessHarness.start({
      command: process.execPath,
      args: ["--import", "tsx", "src/bin.ts", ...args],
      cwd: appDir
    })
    const lines = yield* Stream.runCollect(child.output)
    const exit = yield* child.exit
    const output = Chunk.toReadonlyArray(lines)
      .map((line) => line.text)
      .join("\n")
    return { exit, output }
  })

const writeConfig = (text: string) => {
  const file = join(mkdtempSync(join(tmpdir(), "cdc-bin-")), "cdc.yaml")
  writeFileSync(file, text)
  return file
}

describe("converge-cdc", () => {
  layer(shop, { timeout: 120_000, excludeTestServices: true })("validate-config", (it) => {
    it.scoped(
      "reports every problem with its fix and exits 1, or says OK; either way nothing is written",
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          const sql = yield* SqlClient.SqlClient
          const source = `  url: ${database.url}`
          const bad = writeConfig(
            configYaml(
              "  - { name: orders, table: orderz }\n  - { name: items, table: order_items, fields: [sku, colour] }",
              source
            )
          )
          const failed = yield* converge(["validate-config", "-c", bad])
          expect(failed.exit.code).toBe(1)
          expect(failed.output).toContain('indexes.0.table: unknown table "orderz"')
          expect(failed.output).toContain(
            'indexes.1.fields.1: unknown column "colour" in table "public.order_items"'
          )
          expect(failed.output).toContain("nothing was written")

          const good = writeConfig(configYaml(ordersIndexYaml, source))
          const passed = yield* converge(["validate-config", "-c", good])
          expect(passed.exit.code).toBe(0)
          expect(passed.output).toContain(
            "OK — 1 index(es) over 6 table(s); the publication will be created for"
          )
          const [written] = yield* sql<{ readonly publications: number; readonly slots: number }>`
            SELECT (SELECT count(*)::int FROM pg_publication) AS publications,
                   (SELECT count(*)::int FROM pg_replication_slots WHERE database = current_database()) AS slots`
          expect(written).toEqual({ publications: 0, slots: 0 })
        }),
      120_000
    )

    it.scoped(
      "--help on each command",
      () =>
        Effect.gen(function* () {
          const run = yield* converge(["run", "--help"])
          expect(run.exit.code).toBe(0)
          expect(run.output).toContain("USAGE")
          expect(run.output).toContain("--skip-backfill")
          const validate = yield* converge(["validate-config", "--help"])
          expect(validate.exit.code).toBe(0)
          expect(validate.output).toContain("writes nothing")
        }),
      120_000
    )
  })
})
