import { describe, expect, it } from "@effect/vitest"
import { Client } from "@opensearch-project/opensearch"
import { Effect } from "effect"
import * as OpenSearchSink from "../src/sinks/OpenSearchSink.js"
import type { DocumentWrite } from "../src/sinks/Sink.js"
import * as Sink from "../src/sinks/Sink.js"
import * as OpenSearchStandIn from "./fixtures/OpenSearchStandIn.js"

// Against the local stand-in of the REST API (test/fixtures/OpenSearchStandIn.ts), not a real cluster.

const sinkOn = (url: string, overrides: Partial<OpenSearchSink.Options> = {}) =>
  OpenSearchSink.make({
    name: "search",
    nodes: [url],
    indexPrefix: "",
    ...OpenSearchSink.defaultCaps,
    refreshInterval: "1s",
    gcDeletes: "1h",
    requestTimeoutMillis: 5_000,
    ...overrides
  })

const orders = { name: "orders", searchable: ["status"] }
const upsert = (id: string, status: string, lsn: bigint): DocumentWrite => ({
  index: "orders",
  id,
  json: JSON.stringify({ id, status }),
  lsn
})
const remove = (id: string, lsn: bigint): DocumentWrite => ({ index: "orders", id, json: null, lsn })

/** What a search (through the official client) returns: only what the last refresh made visible. */
const searchIds = (url: string, index: string) =>
  Effect.promise(async () => {
    const client = new Client({ node: url })
    const answer = await client.search({ index, body: { size: 100, query: { match_all: {} } } })
    await client.close()
    return (answer.body.hits.hits as ReadonlyArray<{ readonly _id: string }>).map((hit) => hit._id).sort()
  })

const bulkRequests = (standIn: OpenSearchStandIn.OpenSearchStandIn) =>
  Effect.map(standIn.log, (log) => log.filter((request) => request.path === "/_bulk"))

describe("OpenSearchSink (against a local stand-in, not a real cluster)", () => {
  it.scopedLive("serves an index through an alias, with refresh disabled until it is seeded", () =>
    Effect.gen(function* () {
      const standIn = yield* OpenSearchStandIn.start
      const sink = yield* sinkOn(standIn.url)
      yield* sink.ensureIndexes([orders])
      expect(yield* standIn.aliases).toEqual({ orders: ["orders_g1"] })
      expect(yield* standIn.indexes).toEqual(["converge_dead_letters", "converge_seeded", "orders_g1"])
      expect((yield* standIn.settings("orders_g1"))?.refresh_interval).toBe("-1")
      expect(yield* sink.isSeeded("orders")).toBe(false)

      yield* sink.write([upsert("1", "paid", 100n), upsert("2", "open", 100n)])
      yield* sink.flush
      expect(Object.keys(yield* standIn.documents("orders"))).toEqual(["1", "2"])
      // Seeding: written, but not searchable yet.
      expect(yield* searchIds(standIn.url, "orders")).toEqual([])
      yield* sink.markSeeded("orders", 100n)
      expect((yield* standIn.settings("orders_g1"))?.refresh_interval).toBe("1s")
      expect(yield* searchIds(standIn.url, "orders")).toEqual(["1", "2"])
      expect(yield* sink.isSeeded("orders")).toBe(true)

      // A second start keeps the serving generation and the documents.
      const again = yield* sinkOn(standIn.url)
      yield* again.ensureIndexes([orders])
      expect(yield* standIn.aliases).toEqual({ orders: ["orders_g1"] })
      expect((yield* standIn.settings("orders_g1"))?.refresh_interval).toBe("1s")
      // Stale (TRUNCATE, slot loss): refresh is disabled again until the re-backfill is marked.
      yield* again.clearSeeded("orders")
      expect(yield* again.isSeeded("orders")).toBe(false)
      expect((yield* standIn.settings("orders_g1"))?.refresh_interval).toBe("-1")
    })
  )

  it.scopedLive("an older LSN never overwrites a newer write; deletes are versioned tombstones", () =>
    Effect.gen(function* () {
      const standIn = yield* OpenSearchStandIn.start
      const sink = yield* sinkOn(standIn.url)
      yield* sink.ensureIndexes([orders])
      yield* sink.write([upsert("1", "new", 200n), upsert("2", "kept", 200n)])
      const stale = yield* sink.write([upsert("1", "old", 100n), upsert("2", "replayed", 200n)])
      // A version conflict is the guard working, not a rejection.
      expect(stale.rejected).toEqual([])
      const documents = yield* standIn.documents("orders")
      expect(documents["1"]).toEqual({ version: 200n, source: { id: "1", status: "new" } })
      expect(documents["2"]).toEqual({ version: 200n, source: { id: "2", status: "replayed" } })
      expect((yield* bulkRequests(standIn)).at(-1)?.body).toContain(
        '"version":100,"version_type":"external_gte"'
      )

      yield* sink.write([remove("1", 300n)])
      expect((yield* sink.write([upsert("1", "late", 250n)])).rejected).toEqual([])
      expect(Object.keys(yield* standIn.documents("orders"))).toEqual(["2"])
      yield* sink.write([upsert("1", "back", 400n)])
      expect((yield* standIn.documents("orders"))["1"]?.source).toEqual({ id: "1", status: "back" })
      // Within one batch the latest write per document is the one sent.
      yield* sink.write([upsert("3", "second", 500n), upsert("3", "first", 450n)])
      expect((yield* standIn.documents("orders"))["3"]?.source).toEqual({ id: "3", status: "second" })
    })
  )

  it.scopedLive("splits bulks by action count and by bytes", () =>
    Effect.gen(function* () {
      const standIn = yield* OpenSearchStandIn.start
      const sink = yield* sinkOn(standIn.url, { maxBulkDocuments: 3, maxBulkBytes: 2_000 })
      yield* sink.ensureIndexes([orders])
      yield* sink.write(Array.from({ length: 7 }, (_, i) => upsert(String(i), "s", 10n)))
      const byCount = yield* bulkRequests(standIn)
      expect(byCount.map((request) => request.body.trim().split("\n").length)).toEqual([6, 6, 2])
      // Each action is ~930 bytes: two fit under 2 000 bytes, the third opens another bulk.
      const large = "x".repeat(800)
      yield* sink.write(Array.from({ length: 3 }, (_, i) => upsert(`big${i}`, large, 20n)))
      const bySize = (yield* bulkRequests(standIn)).slice(byCount.length)
      expect(bySize.map((request) => request.body.trim().split("\n").length)).toEqual([4, 2])
      expect(bySize.every((request) => Buffer.byteLength(request.body) <= 2_000)).toBe(true)
      expect(Object.keys(yield* standIn.documents("orders"))).toHaveLength(10)
      expect(OpenSearchSink.chunk([{ bytes: 5 }, { bytes: 5 }], 1000, 10).length).toBe(1)
      expect(OpenSearchSink.chunk([{ bytes: 50 }, { bytes: 5 }], 1000, 10).length).toBe(2)
    })
  )

  it.scopedLive(
    "maps item errors back to documents; transient items and transport faults are SinkUnavailable",
    () =>
      Effect.gen(function* () {
        const standIn = yield* OpenSearchStandIn.start
        const sink = yield* sinkOn(standIn.url)
        yield* sink.ensureIndexes([orders])
        yield* standIn.rejectItems((_, id) =>
          id === "2"
            ? { status: 400, type: "mapper_parsing_exception", reason: "failed to parse field [total]" }
            : undefined
        )
        const report = yield* sink.write([
          upsert("1", "a", 10n),
          upsert("2", "b", 10n),
          upsert("3", "c", 10n)
        ])
        expect(report.rejected).toEqual([
          {
            index: "orders",
            id: "2",
            json: JSON.stringify({ id: "2", status: "b" }),
            reason: "mapper_parsing_exception: failed to parse field [total]"
          }
        ])
        expect(Object.keys(yield* standIn.documents("orders"))).toEqual(["1", "3"])
        yield* sink.storeDeadLetters(report.rejected, 10n)
        const [letter] = Object.values(yield* standIn.documents("converge_dead_letters"))
        expect(letter?.source).toMatchObject({
          sink: "search",
          index: "orders",
          document_id: "2",
          source_lsn: "0/A"
        })

        yield* standIn.rejectItems(() => ({
          status: 429,
          type: "es_rejected_execution_exception",
          reason: "queue full"
        }))
        const busy = yield* Effect.flip(sink.write([upsert("4", "d", 10n)]))
        expect(busy.message).toContain("429 es_rejected_execution_exception")
        yield* standIn.rejectItems(undefined)

        yield* standIn.failWith(503)
        const unavailable = yield* Effect.flip(sink.write([upsert("4", "d", 10n)]))
        expect(unavailable.message).toContain("the cluster answered 503")
        yield* standIn.failWith(undefined)
        yield* standIn.refuse
        const refused = yield* Effect.flip(sink.write([upsert("4", "d", 10n)]))
        expect(refused.message).toContain("cannot connect")
        yield* standIn.resume
        expect((yield* sink.write([upsert("4", "d", 10n)])).rejected).toEqual([])
        expect(Object.keys(yield* standIn.documents("orders"))).toEqual(["1", "3", "4"])
      })
  )

  it.scopedLive(
    "builds a next generation and swaps the alias atomically; a crash leaves the old one serving",
    () =>
      Effect.gen(function* () {
        const standIn = yield* OpenSearchStandIn.start
        const sink = yield* sinkOn(standIn.url)
        yield* sink.ensureIndexes([orders])
        yield* sink.write([upsert("1", "a", 10n), upsert("gone", "x", 10n)])
        yield* sink.markSeeded("orders", 10n)

        yield* sink.beginGeneration(orders)
        // Re-ensuring in the same process (a capture restart) keeps the generation it builds.
        yield* sink.ensureIndexes([orders])
        expect(yield* standIn.indexes).toContain("orders_g2")
        expect((yield* standIn.settings("orders_g2"))?.refresh_interval).toBe("-1")
        // Live writes go to both generations; the backfill only to the next one.
        yield* sink.write([upsert("2", "live", 30n)])
        yield* sink.writeNextGeneration([upsert("1", "a", 20n), upsert("2", "snapshot", 20n)])
        expect(Object.keys(yield* standIn.documents("orders_g1")).sort()).toEqual(["1", "2", "gone"])
        expect((yield* standIn.documents("orders_g2"))["2"]?.source).toMatchObject({ status: "live" })
        expect(yield* standIn.aliases).toEqual({ orders: ["orders_g1"] })

        yield* sink.swapGeneration("orders", 20n)
        expect(yield* standIn.aliases).toEqual({ orders: ["orders_g2"] })
        expect(yield* standIn.indexes).not.toContain("orders_g1")
        expect((yield* standIn.settings("orders_g2"))?.refresh_interval).toBe("1s")
        expect(yield* searchIds(standIn.url, "orders")).toEqual(["1", "2"])
        const aliasCalls = (yield* standIn.log).filter((request) => request.path === "/_aliases")
        expect(aliasCalls).toHaveLength(1)
        expect(JSON.parse(aliasCalls[0]?.body ?? "{}")).toEqual({
          actions: [
            { add: { index: "orders_g2", alias: "orders" } },
            { remove_index: { index: "orders_g1" } }
          ]
        })
        expect((yield* standIn.documents("converge_seeded")).orders?.source).toMatchObject({
          snapshot_lsn: "0/14",
          generation: "orders_g2"
        })

        // A reindex that crashes after beginGeneration: the next start reports it interrupted
        // (not the one this process is building) and drops the half-built g3.
        expect(yield* Sink.interruptedGenerations(sink, [orders])).toEqual([])
        yield* sink.beginGeneration(orders)
        yield* sink.writeNextGeneration([upsert("1", "half", 40n)])
        expect(yield* standIn.indexes).toContain("orders_g3")
        expect(yield* Sink.interruptedGenerations(sink, [orders])).toEqual([])
        const restarted = yield* sinkOn(standIn.url)
        expect(yield* Sink.interruptedGenerations(restarted, [orders])).toEqual(["orders"])
        yield* restarted.ensureIndexes([orders])
        expect(yield* Sink.interruptedGenerations(restarted, [orders])).toEqual([])
        expect(yield* standIn.aliases).toEqual({ orders: ["orders_g2"] })
        expect(yield* standIn.indexes).not.toContain("orders_g3")
        expect((yield* standIn.documents("orders"))["1"]?.source).toMatchObject({ status: "a" })
        const notBegun = yield* Effect.flip(restarted.writeNextGeneration([upsert("1", "x", 50n)]))
        expect(notBegun.message).toContain("no next generation")
      })
  )

  it.scopedLive("sweep deletes the documents last written before the LSN", () =>
    Effect.gen(function* () {
      const standIn = yield* OpenSearchStandIn.start
      const sink = yield* sinkOn(standIn.url)
      yield* sink.ensureIndexes([orders])
      yield* sink.write([upsert("old", "a", 10n), upsert("kept", "b", 10n)])
      // The re-backfill at 50 rewrote "kept"; a live write at 60 added "new".
      yield* sink.write([upsert("kept", "b", 50n), upsert("new", "c", 60n)])
      yield* sink.sweep("orders", 50n)
      // It scrolled through the index and released the scroll.
      const log = yield* standIn.log
      expect(
        log.some((request) => request.path === "/orders/_search" && request.query.get("scroll") === "1m")
      ).toBe(true)
      expect(log.some((request) => request.method === "DELETE" && request.path === "/_search/scroll")).toBe(
        true
      )
      expect(Object.keys(yield* standIn.documents("orders")).sort()).toEqual(["kept", "new"])
      // The sweep's tombstone is versioned: a late write from before it cannot resurrect "old".
      yield* sink.write([upsert("old", "a", 20n)])
      expect(Object.keys(yield* standIn.documents("orders")).sort()).toEqual(["kept", "new"])
    })
  )

  it.scopedLive("refuses to take over a plain index that has the alias's name", () =>
    Effect.gen(function* () {
      const standIn = yield* OpenSearchStandIn.start
      yield* Effect.promise(async () => {
        const client = new Client({ node: standIn.url })
        await client.indices.create({ index: "orders" })
        await client.close()
      })
      const sink = yield* sinkOn(standIn.url)
      const failure = yield* Effect.flip(sink.ensureIndexes([orders]))
      expect(failure.message).toContain('"orders" is an index, not an alias')
    })
  )
})
