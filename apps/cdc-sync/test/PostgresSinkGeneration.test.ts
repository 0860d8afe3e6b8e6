import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as PostgresSink from "../src/sinks/PostgresSink.js"
import type { DocumentWrite } from "../src/sinks/Sink.js"
import * as Sink from "../src/sinks/Sink.js"

const sink = PostgresSink.make({ name: "search", schema: "search", textSearchConfig: "simple" })
const orders = { name: "orders", searchable: ["status"] }

const upsert = (id: string, status: string, lsn: bigint): DocumentWrite => ({
  index: "orders",
  id,
  json: JSON.stringify({ status }),
  lsn
})

const documents = (table: string, schema = "search") =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ readonly id: string; readonly status: string | null }>(
      `SELECT id, document->>'status' AS status FROM ${schema}.${table} ORDER BY id`
    )
  )

const tablesOfSchema = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly name: string }>`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'search' AND c.relkind IN ('r', 'i') ORDER BY c.relname`.pipe(
    Effect.map((rows) => rows.map((row) => row.name))
  )
)

describe("PostgresSink generations", () => {
  it.layer(TestDatabase.layer)("on a target database", (it) => {
    it.effect(
      "live writes go to both generations; the swap serves the next one, seeded, with the serving names",
      () =>
        Effect.gen(function* () {
          const postgres = yield* sink
          yield* postgres.ensureIndexes([orders])
          yield* postgres.write([upsert("1", "old-one", 10n), upsert("gone", "old-gone", 10n)])
          yield* postgres.beginGeneration(orders)
          expect(yield* documents("orders__next")).toEqual([])
          // A live change while the next generation fills: both tables get it.
          yield* postgres.write([upsert("2", "live-two", 30n)])
          // The backfill (tagged with an older LSN) cannot overwrite the newer live write.
          const report = yield* postgres.writeNextGeneration([
            upsert("1", "new-one", 20n),
            upsert("2", "stale-two", 20n)
          ])
          expect(report.rejected).toEqual([])
          expect(yield* documents("orders")).toEqual([
            { id: "1", status: "old-one" },
            { id: "2", status: "live-two" },
            { id: "gone", status: "old-gone" }
          ])
          yield* postgres.swapGeneration("orders", 20n)
          expect(yield* documents("orders")).toEqual([
            { id: "1", status: "new-one" },
            { id: "2", status: "live-two" }
          ])
          expect(yield* tablesOfSchema).toEqual([
            "_converge_dead_letters",
            "_converge_dead_letters_pkey",
            "_converge_seeded",
            "_converge_seeded_pkey",
            "orders",
            "orders_pkey",
            "orders_search"
          ])
          expect(yield* postgres.isSeeded("orders")).toBe(true)
          // After the swap, writes go to the one serving table only; a later ensureIndexes keeps it.
          yield* postgres.write([upsert("3", "after", 40n)])
          yield* postgres.ensureIndexes([orders])
          expect((yield* documents("orders")).map((row) => row.id)).toEqual(["1", "2", "3"])
          const sql = yield* SqlClient.SqlClient
          const found = yield* sql<{ readonly id: string }>`
          SELECT id FROM search.orders WHERE search @@ to_tsquery('simple', 'after')`
          expect(found.map((row) => row.id)).toEqual(["3"])
        })
    )

    it.effect(
      "a half-built next generation is reported interrupted and dropped by the next start's ensureIndexes, not by its builder's",
      () =>
        Effect.gen(function* () {
          const building = yield* sink
          yield* building.ensureIndexes([orders])
          yield* building.beginGeneration(orders)
          yield* building.writeNextGeneration([upsert("1", "half", 5n)])
          // The builder re-ensuring (a capture restart in the same process) keeps its next generation.
          yield* building.ensureIndexes([orders])
          expect(yield* documents("orders__next")).toEqual([{ id: "1", status: "half" }])
          expect(yield* Sink.interruptedGenerations(building, [orders])).toEqual([])
          // A new process (a restart after a crash) does not own it: reported interrupted, then dropped.
          const restarted = yield* sink
          expect(yield* Sink.interruptedGenerations(restarted, [orders])).toEqual(["orders"])
          yield* restarted.ensureIndexes([orders])
          expect(yield* tablesOfSchema).not.toContain("orders__next")
          expect(yield* Sink.interruptedGenerations(restarted, [orders])).toEqual([])
          // beginGeneration again starts empty even over a leftover.
          yield* building.beginGeneration(orders)
          yield* building.writeNextGeneration([upsert("1", "half", 5n)])
          yield* building.beginGeneration(orders)
          expect(yield* documents("orders__next")).toEqual([])
        })
    )

    it.effect("backfilling the serving generation again (TRUNCATE, slot loss) abandons the next one", () =>
      Effect.gen(function* () {
        const postgres = yield* PostgresSink.make({
          name: "third",
          schema: "third",
          textSearchConfig: "simple"
        })
        yield* postgres.ensureIndexes([orders])
        yield* postgres.beginGeneration(orders)
        yield* postgres.writeNextGeneration([upsert("gone", "from-an-older-snapshot", 5n)])
        // The live pipeline re-backfills after a TRUNCATE: clear, write, sweep.
        yield* postgres.clearSeeded("orders")
        yield* postgres.write([upsert("1", "current", 9n)])
        yield* postgres.sweep("orders", 9n)
        expect(yield* documents("orders__next", "third")).toEqual([
          { id: "gone", status: "from-an-older-snapshot" }
        ])
        const refusedWrite = yield* Effect.flip(postgres.writeNextGeneration([upsert("2", "late", 5n)]))
        expect(refusedWrite.message).toContain('the next generation of index "orders" was abandoned')
        const refusedSwap = yield* Effect.flip(postgres.swapGeneration("orders", 5n))
        expect(refusedSwap.message).toContain("ask for the reindex again")
        expect(yield* documents("orders", "third")).toEqual([{ id: "1", status: "current" }])
        // A new reindex starts afresh.
        yield* postgres.beginGeneration(orders)
        yield* postgres.writeNextGeneration([upsert("1", "current", 9n)])
        yield* postgres.swapGeneration("orders", 9n)
        expect(yield* documents("orders", "third")).toEqual([{ id: "1", status: "current" }])
      })
    )

    it.effect("the grants on the serving table move to the swapped-in one", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const database = yield* TestDatabase.TestDatabase
        const role = `cdc_search_reader_${database.name.slice(-6)}`
        const postgres = yield* PostgresSink.make({
          name: "granted",
          schema: "granted",
          textSearchConfig: "simple"
        })
        yield* postgres.ensureIndexes([orders])
        yield* sql.unsafe(`CREATE ROLE ${role}`)
        yield* sql.unsafe(`GRANT SELECT ON granted.orders TO ${role} WITH GRANT OPTION`)
        yield* sql.unsafe(`GRANT INSERT ON granted.orders TO PUBLIC`)
        yield* postgres.beginGeneration(orders)
        yield* postgres.swapGeneration("orders", 1n)
        const [privileges] = yield* sql.unsafe<{
          readonly select: boolean
          readonly grantOption: boolean
          readonly publicInsert: boolean
          readonly update: boolean
        }>(
          `SELECT has_table_privilege('${role}', 'granted.orders', 'SELECT') AS select,
                  has_table_privilege('${role}', 'granted.orders', 'SELECT WITH GRANT OPTION') AS "grantOption",
                  has_table_privilege('public', 'granted.orders', 'INSERT') AS "publicInsert",
                  has_table_privilege('${role}', 'granted.orders', 'UPDATE') AS update`
        )
        yield* sql.unsafe(`DROP OWNED BY ${role}`)
        yield* sql.unsafe(`DROP ROLE ${role}`)
        expect(privileges).toEqual({ select: true, grantOption: true, publicInsert: true, update: false })
      })
    )

    it.effect("swapping without a next generation is SinkUnavailable and leaves the serving table", () =>
      Effect.gen(function* () {
        const postgres = yield* PostgresSink.make({
          name: "other",
          schema: "other",
          textSearchConfig: "simple"
        })
        yield* postgres.ensureIndexes([orders])
        yield* postgres.write([upsert("1", "kept", 1n)])
        const error = yield* Effect.flip(postgres.swapGeneration("orders", 2n))
        expect(error._tag).toBe("SinkUnavailable")
        expect(error.message).toContain('swapping in the next generation of index "orders"')
        expect(yield* documents("orders", "other")).toEqual([{ id: "1", status: "kept" }])
      })
    )
  })
})
