import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as PostgresSink from "../src/sinks/PostgresSink.js"
import type { DocumentWrite } from "../src/sinks/Sink.js"
import * as Sink from "../src/sinks/Sink.js"

const orders = { name: "orders", searchable: ["status"] }

const upsert = (id: string, status: string, lsn: bigint): DocumentWrite => ({
  index: "orders",
  id,
  json: JSON.stringify({ status }),
  lsn
})
const tombstone = (id: string, lsn: bigint): DocumentWrite => ({ index: "orders", id, json: null, lsn })

const sinkIn = (schema: string) => PostgresSink.make({ name: "search", schema, textSearchConfig: "simple" })

const documents = (schema: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ readonly id: string; readonly status: string | null; readonly lsn: string }>(
      `SELECT id, document->>'status' AS status, source_lsn::text AS lsn FROM ${schema}.orders ORDER BY id`
    )
  )

const relations = (schema: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) =>
      sql<{ readonly name: string; readonly kind: string }>`
      SELECT c.relname AS name, c.relkind::text AS kind FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${schema} AND c.relname LIKE 'orders%' ORDER BY c.relname`
  )

describe("PostgresSink backfill load (COPY into a new table, indexes built once, swapped in)", () => {
  it.layer(TestDatabase.layer)("on a target database", (it) => {
    it.effect(
      "the load replaces the serving documents; rows gone from the snapshot go, live writes made meanwhile stay",
      () =>
        Effect.scoped(
          Effect.gen(function* () {
            const sql = yield* SqlClient.SqlClient
            const postgres = yield* sinkIn("reload")
            yield* postgres.ensureIndexes([orders])
            // The serving table before the backfill: an old version, a root gone since, a tombstone.
            yield* postgres.write([upsert("1", "old one", 10n), upsert("gone", "root deleted", 10n)])
            yield* postgres.write([tombstone("dead", 10n)])
            const load = yield* Sink.openBackfill(postgres, orders, 20n)
            yield* load.write([upsert("1", "snapshot one", 20n), upsert("2", "snapshot two", 20n)])
            // Live writes of another process while the load runs (always after the snapshot).
            yield* postgres.write([upsert("2", "live two", 30n), upsert("3", "live three", 31n)])
            yield* postgres.write([tombstone("1", 32n)])
            yield* load.write([upsert("4", "snapshot four", 20n)])
            // Until it completes, readers see the serving table as it was (plus the live writes).
            expect((yield* documents("reload")).map((row) => [row.id, row.status])).toEqual([
              ["1", null],
              ["2", "live two"],
              ["3", "live three"],
              ["dead", null],
              ["gone", "root deleted"]
            ])
            yield* load.complete
            expect(yield* documents("reload")).toEqual([
              { id: "1", status: null, lsn: "0/20" },
              { id: "2", status: "live two", lsn: "0/1E" },
              { id: "3", status: "live three", lsn: "0/1F" },
              { id: "4", status: "snapshot four", lsn: "0/14" }
            ])
            // The swapped-in table has the serving names, its key and its search index.
            expect(yield* relations("reload")).toEqual([
              { name: "orders", kind: "r" },
              { name: "orders_pkey", kind: "i" },
              { name: "orders_search", kind: "i" }
            ])
            const found = yield* sql<{ readonly id: string }>`
              SELECT id FROM reload.orders WHERE search @@ to_tsquery('simple', 'four')`
            expect(found.map((row) => row.id)).toEqual(["4"])
            expect(yield* postgres.isSeeded("orders")).toBe(true)
            const [marker] = yield* sql<{ readonly lsn: string }>`
              SELECT snapshot_lsn::text AS lsn FROM reload._converge_seeded WHERE index = 'orders'`
            expect(marker?.lsn).toBe("0/14")
            // Writes go on into the new table, with the usual LSN guard.
            yield* postgres.write([upsert("4", "stale", 19n), upsert("5", "after", 40n)])
            expect((yield* documents("reload")).map((row) => [row.id, row.status])).toEqual([
              ["1", null],
              ["2", "live two"],
              ["3", "live three"],
              ["4", "snapshot four"],
              ["5", "after"]
            ])
          })
        )
    )

    it.effect("pages load concurrently; a document the server refuses is rejected alone", () =>
      Effect.scoped(
        Effect.gen(function* () {
          const postgres = yield* sinkIn("refusing")
          yield* postgres.ensureIndexes([orders])
          const load = yield* Sink.openBackfill(postgres, orders, 5n)
          // A tsvector holds at most 1 MB: 200 000 distinct words do not fit.
          const words = Array.from({ length: 200_000 }, (_, i) => `w${i.toString(36)}x`).join(" ")
          const pages = Array.from({ length: 8 }, (_, page) =>
            Array.from({ length: 250 }, (_, i) =>
              upsert(String(page * 250 + i), `s ${page}\t\\ "${i}"\n`, 5n)
            )
          )
          pages[3]?.splice(10, 0, upsert("refused", words, 5n))
          const reports = yield* Effect.forEach(pages, (page) => load.write(page), { concurrency: 3 })
          expect(reports.flatMap((report) => report.rejected.map((r) => r.id))).toEqual(["refused"])
          expect(reports[3]?.rejected[0]?.reason).toContain("too long for tsvector")
          yield* load.complete
          const rows = yield* documents("refusing")
          expect(rows.length).toBe(2000)
          expect(rows.find((row) => row.id === "1011")?.status).toBe(`s 4\t\\ "11"\n`)
        })
      )
    )

    it.effect("a load closed before it completes leaves the serving table and drops its own", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const postgres = yield* sinkIn("abandoned")
        yield* postgres.ensureIndexes([orders])
        yield* postgres.write([upsert("1", "serving", 10n)])
        yield* postgres.markSeeded("orders", 10n)
        yield* Effect.scoped(
          Effect.gen(function* () {
            const load = yield* Sink.openBackfill(postgres, orders, 20n)
            yield* load.write([upsert("2", "half loaded", 20n)])
          })
        )
        expect(yield* documents("abandoned")).toEqual([{ id: "1", status: "serving", lsn: "0/A" }])
        expect((yield* relations("abandoned")).map((row) => row.name)).toEqual([
          "orders",
          "orders_pkey",
          "orders_search"
        ])
        // A crash leaves the load's table behind: the next start drops it.
        yield* sql.unsafe(`CREATE TABLE abandoned.orders__seed (id text)`)
        const restarted = yield* sinkIn("abandoned")
        yield* restarted.ensureIndexes([orders])
        expect((yield* relations("abandoned")).map((row) => row.name)).toEqual([
          "orders",
          "orders_pkey",
          "orders_search"
        ])
      })
    )
  })
})
