import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Effect, Layer, Option, Stream } from "effect"
import { eventually } from "./fixtures/live.js"
import { configYaml, createShop, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

const start = (args: ReadonlyArray<string>) =>
  ProcessHarness.start({
    command: process.execPath,
    args: ["--import", "tsx", "src/bin.ts", ...args],
    cwd: appDir
  })

/** Runs a command to its end: exit and all output (both streams). */
const converge = (args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const child = yield* start(args)
    const lines = yield* Stream.runCollect(child.output)
    const exit = yield* child.exit
    const output = Chunk.toReadonlyArray(lines)
      .map((line) => line.text)
      .join("\n")
    return { exit, output }
  }).pipe(Effect.scoped)

/** The URL a running child printed after `label` (e.g. "Admin server listening on"). */
const urlAfter = (child: ProcessHarness.RunningProcess, label: string) =>
  child.output.pipe(
    Stream.filterMap((line) =>
      Option.fromNullable(new RegExp(`${label} (http://127\\.0\\.0\\.1:\\d+)`).exec(line.text)?.[1])
    ),
    Stream.runHead,
    Effect.flatten,
    Effect.timeout("90 seconds")
  )

describe("converge-cdc backfill / run / status / reindex", () => {
  layer(shop, { timeout: 240_000, excludeTestServices: true })("against the shop", (it) => {
    it.scoped(
      "backfill one-shot, then status and reindex of the running daemon through its binds",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          const file = join(mkdtempSync(join(tmpdir(), "cdc-cli-")), "cdc.yaml")
          writeFileSync(
            file,
            configYaml(
              ordersIndexYaml,
              `  url: ${database.url}\nsinks:\n  search: { type: postgres, schema: search }`
            )
          )

          const [backfilled, ...helps] = yield* Effect.all(
            [
              converge(["backfill", "-c", file, "--index", "orders"]),
              converge(["backfill", "--help"]),
              converge(["reindex", "--help"])
            ],
            { concurrency: 2 }
          )
          expect(backfilled.exit.code).toBe(0)
          expect(backfilled.output).toContain("orders: backfilling 4 root rows")
          expect(backfilled.output).toContain("orders: 4/4 rows (100%)")
          expect(backfilled.output).toContain("orders: seeded, 3 documents")
          for (const help of helps) {
            expect(help.exit.code).toBe(0)
            expect(help.output).toContain("USAGE")
          }
          expect(helps[0]?.output).toContain("--force")
          expect(helps[1]?.output).toContain("--admin")
          const [seeded] = yield* sql<{ readonly documents: number; readonly slots: number }>`
            SELECT (SELECT count(*)::int FROM search.orders WHERE document IS NOT NULL) AS documents,
                   (SELECT count(*)::int FROM pg_replication_slots WHERE slot_name = 'shop_slot') AS slots`
          expect(seeded).toEqual({ documents: 3, slots: 1 })
          const [before] = yield* sql<{
            readonly oid: number
          }>`SELECT 'search.orders'::regclass::oid::int AS oid`

          const daemon = yield* start(["run", "-c", file, "--port", "0", "--admin-port", "0"])
          const statusUrl = yield* urlAfter(daemon, "Status server listening on")
          const adminUrl = yield* urlAfter(daemon, "Admin server listening on")
          yield* daemon.awaitReady(`${statusUrl}/readyz`, { timeout: "90 seconds" })

          const [human, json, reindexed, unreachable, refused] = yield* Effect.all(
            [
              converge(["status", "-c", file, "--url", statusUrl]),
              converge(["status", "-c", file, "--url", statusUrl, "--json"]),
              converge(["reindex", "orders", "-c", file, "--admin", adminUrl]),
              converge(["reindex", "orders", "-c", file, "--admin", "http://127.0.0.1:9"]),
              converge(["reindex", "nope", "-c", file, "--admin", adminUrl])
            ],
            { concurrency: 2 }
          )
          expect(human.exit.code).toBe(0)
          expect(human.output).toMatch(/phase: +live/)
          expect(human.output).toMatch(/ {2}orders +seeded/)
          expect(json.exit.code).toBe(0)
          expect(JSON.parse(json.output)).toMatchObject({ phase: "live", indexes: { orders: "seeded" } })
          expect(reindexed.exit.code).toBe(0)
          expect(reindexed.output).toContain(`reindex of "orders" started in the daemon at ${adminUrl}`)
          expect(unreachable.exit.code).toBe(1)
          expect(unreachable.output).toContain("no converge-cdc daemon answers at http://127.0.0.1:9/reindex")
          expect(refused.exit.code).toBe(1)
          expect(refused.output).toContain('HTTP 404): unknown index "nope"')

          // The daemon swapped in a new generation: a new table under the same name, same documents.
          yield* eventually(
            Effect.flatMap(
              sql<{ readonly oid: number }>`SELECT 'search.orders'::regclass::oid::int AS oid`,
              ([after]) => Effect.try(() => expect(after?.oid).not.toBe(before?.oid))
            ),
            "90 seconds"
          )
          const [served] = yield* sql<{ readonly documents: number }>`
            SELECT count(*)::int AS documents FROM search.orders WHERE document IS NOT NULL`
          expect(served?.documents).toBe(3)
          yield* daemon.kill("SIGTERM")
        }),
      240_000
    )
  })
})
