import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Lsn from "../src/capture/Lsn.js"
import * as PostgresSink from "../src/sinks/PostgresSink.js"
import type { DocumentWrite } from "../src/sinks/Sink.js"

const sink = PostgresSink.make({ name: "search", schema: "search", textSearchConfig: "simple" })

const upsert = (id: string, document: object, lsn: bigint, index = "orders"): DocumentWrite => ({
  index,
  id,
  json: JSON.stringify(document),
  lsn
})
const tombstone = (id: string, lsn: bigint, index = "orders"): DocumentWrite => ({
  index,
  id,
  json: null,
  lsn
})

const rows = (index = "orders") =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.unsafe<{ readonly id: string; readonly document: unknown; readonly source_lsn: string }>(
      `SELECT id, document, source_lsn::text AS source_lsn FROM search.${index} ORDER BY id`
    )
  )

const search = (query: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly id: string }>`
      SELECT id FROM search.orders WHERE document IS NOT NULL AND search @@ to_tsquery('simple', ${query}) ORDER BY id`.pipe(
      Effect.map((found) => found.map((row) => row.id))
    )
  )

const orders = { name: "orders", searchable: ["status", "customer.name", "items.sku"] }

describe("PostgresSink", () => {
  it.layer(TestDatabase.layer)("on a target database", (it) => {
    it.effect("creates one table per index with the documented columns and a GIN-indexed search column", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        yield* postgres.ensureIndexes([orders])
        yield* postgres.ensureIndexes([orders])
        const sql = yield* SqlClient.SqlClient
        const columns = yield* sql<{
          readonly name: string
          readonly type: string
          readonly generated: string
        }>`
          SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attgenerated::text AS generated
          FROM pg_attribute a WHERE a.attrelid = 'search.orders'::regclass AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum`
        expect(columns).toEqual([
          { name: "id", type: "text", generated: "" },
          { name: "document", type: "jsonb", generated: "" },
          { name: "source_lsn", type: "pg_lsn", generated: "" },
          { name: "updated_at", type: "timestamp with time zone", generated: "" },
          { name: "search", type: "tsvector", generated: "s" }
        ])
        const [index] = yield* sql<{ readonly definition: string }>`
          SELECT pg_get_indexdef(indexrelid) AS definition FROM pg_index
          WHERE indrelid = 'search.orders'::regclass AND NOT indisprimary`
        expect(index?.definition).toContain("USING gin (search)")
      })
    )

    it.effect("upserts documents searchable by their searchable fields, through nested arrays", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        yield* postgres.ensureIndexes([orders])
        const report = yield* postgres.write([
          upsert(
            "1",
            {
              status: "paid",
              customer: { name: "Ada Lovelace" },
              items: [{ sku: "KETTLE" }, { sku: "mug" }],
              note: "secret"
            },
            10n
          ),
          upsert("2", { status: "open", customer: null, items: [] }, 11n)
        ])
        yield* postgres.flush
        expect(report.rejected).toEqual([])
        expect(yield* search("lovelace")).toEqual(["1"])
        expect(yield* search("mug & kettle")).toEqual(["1"])
        expect(yield* search("open")).toEqual(["2"])
        // Only searchable fields are indexed.
        expect(yield* search("secret")).toEqual([])
      })
    )

    it.effect("a stale write (older LSN) never overwrites a newer one; an equal LSN replays", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        yield* postgres.ensureIndexes([orders])
        yield* postgres.write([upsert("10", { status: "v2" }, 200n)])
        yield* postgres.write([upsert("10", { status: "v1" }, 100n)])
        expect((yield* rows()).find((row) => row.id === "10")).toEqual({
          id: "10",
          document: { status: "v2" },
          source_lsn: Lsn.format(200n)
        })
        yield* postgres.write([upsert("10", { status: "v2 again" }, 200n)])
        expect((yield* rows()).find((row) => row.id === "10")?.document).toEqual({ status: "v2 again" })
      })
    )

    it.effect("a delete leaves a tombstone that a late upsert cannot resurrect; a newer upsert can", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        yield* postgres.ensureIndexes([orders])
        yield* postgres.write([upsert("20", { status: "paid" }, 300n)])
        yield* postgres.write([tombstone("20", 320n)])
        yield* postgres.write([upsert("20", { status: "late" }, 310n)])
        expect((yield* rows()).find((row) => row.id === "20")).toEqual({
          id: "20",
          document: null,
          source_lsn: Lsn.format(320n)
        })
        expect(yield* search("late")).toEqual([])
        yield* postgres.write([upsert("20", { status: "reborn" }, 330n)])
        expect((yield* rows()).find((row) => row.id === "20")?.document).toEqual({ status: "reborn" })
      })
    )

    it.effect("within one batch the highest LSN per document wins, whatever the order", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        yield* postgres.ensureIndexes([orders, { name: "customers", searchable: [] }])
        yield* postgres.write([
          upsert("30", { status: "b" }, 402n),
          upsert("30", { status: "a" }, 401n),
          tombstone("31", 405n),
          upsert("31", { status: "x" }, 404n),
          upsert("30", { name: "Ada" }, 401n, "customers")
        ])
        const all = yield* rows()
        expect(all.find((row) => row.id === "30")?.document).toEqual({ status: "b" })
        expect(all.find((row) => row.id === "31")?.document).toBeNull()
        expect(yield* rows("customers")).toEqual([
          { id: "30", document: { name: "Ada" }, source_lsn: Lsn.format(401n) }
        ])
      })
    )

    it.effect("a document the server refuses is rejected alone; the rest of the batch is written", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        yield* postgres.ensureIndexes([orders])
        // A tsvector holds at most 1 MB: 200 000 distinct words do not fit.
        const words = Array.from({ length: 200_000 }, (_, i) => `w${i.toString(36)}x`).join(" ")
        const report = yield* postgres.write([
          upsert("40", { status: "fine" }, 500n),
          upsert("41", { status: words }, 501n),
          upsert("42", { status: "also fine" }, 502n)
        ])
        expect(report.rejected.map((r) => [r.index, r.id])).toEqual([["orders", "41"]])
        expect(report.rejected[0]?.reason).toContain("too long for tsvector")
        const ids = (yield* rows()).map((row) => row.id)
        expect(ids).toContain("40")
        expect(ids).toContain("42")
        expect(ids).not.toContain("41")
      })
    )

    it.effect(
      "a large batch (staged through COPY) keeps the LSN guard and tombstones, and rejects only the refused document",
      () =>
        Effect.gen(function* () {
          const postgres = yield* sink
          yield* postgres.ensureIndexes([orders])
          yield* postgres.write([upsert("s-1", { status: "newer" }, 900n), tombstone("s-2", 900n)])
          const words = Array.from({ length: 200_000 }, (_, i) => `w${i.toString(36)}x`).join(" ")
          const batch = [
            ...Array.from({ length: 300 }, (_, i) =>
              upsert(`s-${i}`, { status: `tab\there back\\slash ${i}` }, 800n)
            ),
            upsert("s-refused", { status: words }, 800n),
            tombstone("s-299", 801n)
          ]
          const report = yield* postgres.write(batch)
          expect(report.rejected.map((r) => r.id)).toEqual(["s-refused"])
          const stored = new Map((yield* rows()).map((row) => [row.id, row]))
          expect(stored.get("s-1")?.document).toEqual({ status: "newer" })
          expect(stored.get("s-2")?.document).toBeNull()
          expect(stored.get("s-3")?.document).toEqual({ status: "tab\there back\\slash 3" })
          expect(stored.get("s-299")?.document).toBeNull()
          expect(stored.get("s-299")?.source_lsn).toBe("0/321")
          expect(stored.has("s-refused")).toBe(false)
          // Again without the refused one: the whole batch in one staged statement.
          const again = yield* postgres.write(batch.filter((write) => write.id !== "s-refused"))
          expect(again.rejected).toEqual([])
          expect((yield* rows()).filter((row) => row.id.startsWith("s-")).length).toBe(300)
        })
    )

    it.effect("changing the searchable fields regenerates the search column", () =>
      Effect.gen(function* () {
        yield* (yield* sink).ensureIndexes([orders])
        const note = yield* PostgresSink.make({
          name: "search",
          schema: "search",
          textSearchConfig: "simple"
        })
        yield* note.write([upsert("50", { status: "x", note: "hidden" }, 600n)])
        expect(yield* search("hidden")).toEqual([])
        yield* note.ensureIndexes([{ name: "orders", searchable: ["note"] }])
        expect(yield* search("hidden")).toEqual(["50"])
      })
    )

    it.effect("seeded markers are stored in the sink's schema", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        yield* postgres.ensureIndexes([orders])
        expect(yield* postgres.isSeeded("orders")).toBe(false)
        yield* postgres.markSeeded("orders", Lsn.parse("0/16B3748")!)
        expect(yield* postgres.isSeeded("orders")).toBe(true)
        yield* postgres.clearSeeded("orders")
        expect(yield* postgres.isSeeded("orders")).toBe(false)
      })
    )

    it.effect("a missing table is SinkUnavailable, not a rejection", () =>
      Effect.gen(function* () {
        const postgres = yield* sink
        const error = yield* postgres.write([upsert("1", {}, 1n, "nowhere")]).pipe(Effect.flip)
        expect(error._tag).toBe("SinkUnavailable")
        expect(error.message).toContain('writing index "nowhere"')
      })
    )
  })
})
