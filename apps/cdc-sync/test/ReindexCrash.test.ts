import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { SqlClient, type SqlError } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer, Option, Stream } from "effect"
import { eventually } from "./fixtures/live.js"
import { configYaml, createShop, ordersIndexYaml, seedShop } from "./fixtures/shop.js"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const shop = Layer.provideMerge(
  Layer.effectDiscard(Effect.zipRight(createShop, seedShop)),
  TestDatabase.layer
)

/** Starts `converge-cdc run` on free ports; returns the child and its status and admin URLs once ready. */
const startDaemon = (file: string) =>
  Effect.gen(function* () {
    const child = yield* ProcessHarness.start({
      command: process.execPath,
      args: ["--import", "tsx", "src/bin.ts", "run", "-c", file, "--port", "0", "--admin-port", "0"],
      cwd: appDir
    })
    const urlAfter = (label: string) =>
      child.output.pipe(
        Stream.filterMap((line) =>
          Option.fromNullable(new RegExp(`${label} (http://127\\.0\\.0\\.1:\\d+)`).exec(line.text)?.[1])
        ),
        Stream.runHead,
        Effect.flatten,
        Effect.timeout("90 seconds")
      )
    const status = yield* urlAfter("Status server listening on")
    const admin = yield* urlAfter("Admin server listening on")
    yield* child.awaitReady(`${status}/readyz`, { timeout: "120 seconds" })
    return { child, admin }
  })

const postReindex = (admin: string) =>
  Effect.tryPromise(() => fetch(`${admin}/reindex?index=orders`, { method: "POST" })).pipe(
    Effect.map((response) => response.status),
    Effect.orDie
  )

describe("Reindex crash", () => {
  layer(shop, { timeout: 240_000, excludeTestServices: true })("converge-cdc run, killed", (it) => {
    it.scoped(
      "SIGKILL mid-reindex leaves the old generation serving; the restart drops the half-built one and reindexes again by itself",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const database = yield* TestDatabase.TestDatabase
          yield* sql`INSERT INTO orders SELECT g, 1 + g % 2, 'bulk', g, NULL FROM generate_series(1000, 30999) g`
          const file = join(mkdtempSync(join(tmpdir(), "cdc-reindex-crash-")), "cdc.yaml")
          writeFileSync(
            file,
            configYaml(
              ordersIndexYaml,
              `  url: ${database.url}\nsinks:\n  search: { type: postgres, schema: search }`
            )
          )
          const served = sql<{ readonly documents: number }>`
            SELECT count(*)::int AS documents FROM search.orders WHERE document IS NOT NULL`.pipe(
            Effect.map(([row]) => row?.documents ?? 0)
          )
          const nextRows = sql<{ readonly rows: number | null }>`
            SELECT CASE WHEN to_regclass('search.orders__next') IS NULL THEN NULL
                        ELSE (xpath('/row/c/text()', query_to_xml('SELECT count(*) AS c FROM search.orders__next', false, true, '')))[1]::text::int
                   END AS rows`.pipe(Effect.map(([row]) => row?.rows ?? null))

          const first = yield* startDaemon(file)
          expect(yield* served).toBe(30003)
          const [before] = yield* sql<{
            readonly oid: number
          }>`SELECT 'search.orders'::regclass::oid::int AS oid`
          expect(yield* postReindex(first.admin)).toBe(202)
          // Once the next generation is partly written, freeze it there: an exclusive lock on the
          // next table stops the reindex's (autocommit) writes, so the kill lands mid-reindex.
          yield* eventually(
            Effect.filterOrFail(
              nextRows,
              (rows) => rows !== null && rows > 0,
              () => "the next generation has no rows yet"
            ),
            "90 seconds"
          )
          const locker = yield* sql.reserve
          const onLocker = <A extends object>(text: string) =>
            locker.execute(text, [], undefined) as Effect.Effect<ReadonlyArray<A>, SqlError.SqlError>
          yield* onLocker("BEGIN")
          yield* onLocker("LOCK TABLE search.orders__next IN ACCESS EXCLUSIVE MODE")
          const [frozen] = yield* onLocker<{ readonly rows: number; readonly swapped: boolean }>(
            `SELECT (SELECT count(*)::int FROM search.orders__next) AS rows,
                    'search.orders'::regclass::oid::int <> ${before?.oid} AS swapped`
          )
          expect(frozen?.swapped).toBe(false)
          const killed = yield* first.child.kill("SIGKILL")
          expect(killed.signal).toBe("SIGKILL")
          yield* onLocker("ROLLBACK")
          expect(frozen?.rows).toBeGreaterThan(0)
          expect(frozen?.rows).toBeLessThan(30003)
          expect(yield* nextRows).not.toBeNull()
          // The old generation still serves, whole.
          const [still] = yield* sql<{
            readonly oid: number
          }>`SELECT 'search.orders'::regclass::oid::int AS oid`
          expect(still?.oid).toBe(before?.oid)
          expect(yield* served).toBe(30003)

          // The restart drops the half-built generation and starts the reindex again by itself.
          const second = yield* startDaemon(file)
          yield* second.child.output.pipe(
            Stream.filter((line) => line.text.includes("ReindexInterrupted")),
            Stream.runHead,
            Effect.timeout("30 seconds")
          )
          yield* sql`INSERT INTO orders VALUES (99999, 1, 'restarted', 1, NULL)`
          yield* eventually(
            Effect.flatMap(
              sql<{ readonly oid: number }>`SELECT 'search.orders'::regclass::oid::int AS oid`,
              ([after]) => Effect.try(() => expect(after?.oid).not.toBe(before?.oid))
            ),
            "120 seconds"
          )
          yield* eventually(
            Effect.filterOrFail(served, (documents) => documents === 30004),
            "90 seconds"
          )
          expect(yield* nextRows).toBeNull()
          yield* second.child.kill("SIGTERM")
        }),
      240_000
    )
  })
})
