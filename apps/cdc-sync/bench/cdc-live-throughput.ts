/**
 * Live throughput: row changes per second end to end into the postgres sink (source → slot →
 * `ReplicationStream` → `LivePipeline` → sink written and flushed → slot acknowledged), for
 * root-only documents and documents with one `has_many` relation, committed in bulk
 * transactions (~1 000 changes each) and one row per transaction; side by side with
 * `pg_recvlogical` (pgoutput, proto_version 1, the same publication) decoding the same WAL.
 *
 * Per case: a fresh source database with a publication, two fresh pgoutput slots (ours and the
 * anchor's), then N changes written (not timed). Then each consumer drains its own slot:
 * pg_recvlogical up to the WAL position after the workload (`--endpos`; timed by a shell around
 * it, minus its start-up measured on an empty slot), then our daemon from the
 * start of live capture until every change was flushed into the sink and acknowledged, then
 * pg_recvlogical again on a third slot; the faster pg_recvlogical run is the anchor. The sink is a database
 * of its own on the same server.
 *
 * Each case runs three rounds (quick: one), each on fresh databases and slots, with the workload
 * checkpointed before anything is timed, and reports the round with the median ratio; the result
 * keeps every round's ratio.
 *
 *   node --import tsx --expose-gc bench/cdc-live-throughput.ts            200 k bulk / 100 k row-by-row changes per case
 *   node --import tsx --expose-gc bench/cdc-live-throughput.ts --quick    10 k bulk / 8 k row-by-row changes per case
 */
import { type Case, isQuick, printTable, type Result, ratioOf, writeResult } from "@converge/bench"
import { SqlClient } from "@effect/sql"
import { Effect, Logger, LogLevel } from "effect"
import * as BenchServer from "./support/BenchServer.js"
import * as OurPipeline from "./support/OurPipeline.js"
import * as Shapes from "./support/Shapes.js"
import * as Slots from "./support/Slots.js"

const quick = isQuick()
const bulkChanges = quick ? 10_000 : 200_000
const rowByRowChanges = quick ? 8_000 : 100_000
const bulkTransactionChanges = 1_000
const goalRatio = 0.3
/** Rounds per case (fresh databases and slots each); the round with the median ratio is reported. */
const rounds = quick ? 1 : 3

interface LiveCase extends Case {
  readonly shape: Shapes.Shape["name"]
  readonly commits: "bulk" | "row by row"
  readonly changes: number
  readonly documents: number
  readonly oursSeconds: number
  readonly oursBatches: number
  /** The share of our time spent writing to and flushing the sink. */
  readonly oursSinkShare: number
  readonly oursDocumentsPerSecond: number
  readonly anchorSeconds: number
  readonly anchorRunsSeconds: ReadonlyArray<number>
  readonly anchorStartupSeconds: number
  /** Every round's ratio, in the order run (the case reports the median round). */
  readonly roundRatios?: ReadonlyArray<number>
}

/** Runs `rounds` rounds of a case and returns its median round, with every round's ratio. */
const medianRound = (measureOnce: Effect.Effect<LiveCase, unknown>) =>
  Effect.gen(function* () {
    const measured: Array<LiveCase> = []
    for (let round = 0; round < rounds; round++) measured.push(yield* measureOnce)
    const sorted = [...measured].sort((a, b) => a.ratio - b.ratio)
    const median = sorted[Math.floor(sorted.length / 2)] ?? (yield* Effect.dieMessage("no rounds"))
    return { ...median, roundRatios: measured.map((row) => row.ratio) }
  })

const measure = (server: BenchServer.BenchServer, shape: Shapes.Shape, commits: Shapes.Commits) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sourceUrl = yield* server.freshDatabase("live")
      const sinkUrl = yield* server.freshDatabase("sink")
      const changes = commits._tag === "Bulk" ? bulkChanges : rowByRowChanges
      const documents = Math.floor(changes / shape.changesPerDocument)
      const prepared = yield* Effect.gen(function* () {
        yield* Shapes.prepareSource(shape)
        yield* Slots.create("bench_ours")
        yield* Slots.create("bench_anchor")
        yield* Slots.create("bench_anchor_after")
        yield* Shapes.write(shape, 1, documents, commits)
        // The workload's dirty pages are written out now, not during whichever consumer runs first.
        yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("CHECKPOINT"))
        const endLsn = yield* Slots.currentLsn
        return { endLsn, startup: yield* Slots.recvlogicalStartup(sourceUrl, "bench_idle") }
      }).pipe(Effect.provide(BenchServer.clientLayer(sourceUrl, 2)))
      const written = documents * shape.changesPerDocument

      const anchorBefore = yield* Slots.drainWithRecvlogical(sourceUrl, "bench_anchor", prepared.endLsn)

      const config = yield* Shapes.config(shape, "bench_ours")
      const sink = yield* OurPipeline.postgresSink(sinkUrl, "search")
      const running = yield* OurPipeline.start(config, sourceUrl, sink)
      const liveStarted = yield* running.liveStarted
      const drained = yield* running.awaitChanges(written)
      const totals = yield* running.totals
      const oursSeconds = (drained - liveStarted) / 1000
      yield* running.stop
      // Again after ours, on a slot of its own: the faster of the two runs is the anchor.
      const anchorAfter = yield* Slots.drainWithRecvlogical(sourceUrl, "bench_anchor_after", prepared.endLsn)
      // Both runs minus pg_recvlogical's start-up; floored at 1 ms.
      const anchorSeconds = Math.max(Math.min(anchorBefore, anchorAfter) - prepared.startup, 1e-3)

      const ours = written / oursSeconds
      const anchor = written / anchorSeconds
      const measured: LiveCase = {
        name: `${shape.name} / ${commits._tag === "Bulk" ? "bulk" : "row by row"}`,
        shape: shape.name,
        commits: commits._tag === "Bulk" ? "bulk" : "row by row",
        changes: written,
        documents,
        ours,
        anchor,
        ratio: ratioOf(ours, anchor, true),
        oursSeconds,
        oursBatches: totals.batches,
        oursSinkShare: totals.sinkMillis / 1000 / oursSeconds,
        oursDocumentsPerSecond: documents / oursSeconds,
        anchorSeconds,
        anchorRunsSeconds: [anchorBefore, anchorAfter],
        anchorStartupSeconds: prepared.startup
      }
      console.error(
        `  ${measured.name}: ours ${ours.toFixed(0)} changes/s (${oursSeconds.toFixed(2)} s, ${totals.batches} batches, ${(measured.oursSinkShare * 100).toFixed(0)}% in the sink), pg_recvlogical ${anchor.toFixed(0)} changes/s (${anchorSeconds.toFixed(2)} s)`
      )
      return measured
    })
  )

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* BenchServer.make()
    const machine = yield* Effect.scoped(
      Effect.flatMap(server.freshDatabase("probe"), (url) =>
        Effect.provide(BenchServer.probe, BenchServer.clientLayer(url, 1))
      )
    )
    const recvlogicalVersion = BenchServer.toolVersion("pg_recvlogical")
    const cases: Array<LiveCase> = []
    for (const shape of [Shapes.rootOnly, Shapes.hasMany]) {
      cases.push(
        yield* medianRound(measure(server, shape, { _tag: "Bulk", changes: bulkTransactionChanges }))
      )
      cases.push(yield* medianRound(measure(server, shape, { _tag: "RowByRow" })))
    }
    const rootOnly = cases.filter((row) => row.shape === "root-only")
    const worst = cases.reduce((a, b) => (b.ratio < a.ratio ? b : a))
    const worstRootOnly = rootOnly.reduce((a, b) => (b.ratio < a.ratio ? b : a))
    const result: Result = {
      name: "cdc-live-throughput",
      metric:
        "row changes per second, end to end into the postgres sink (flushed and acknowledged), worst case",
      unit: "changes/s",
      ours: worst.ours,
      anchor: worst.anchor,
      anchorName: `pg_recvlogical (pgoutput, proto_version 1) on the same WAL, same run: ${recvlogicalVersion} against Postgres ${machine.serverVersion}`,
      ratio: worst.ratio,
      higherIsBetter: true,
      worstCase: worst.name,
      goalRatio,
      goal: `ratio >= ${goalRatio} root-only`,
      goalMet: worstRootOnly.ratio >= goalRatio,
      server: server.source,
      machine,
      settings: {
        bulkTransactionChanges,
        sink: "postgres (a database of its own on the same server)",
        batch: "defaults (max_changes 4096, queue_capacity 16384)",
        anchorTiming:
          "the faster of two pg_recvlogical runs (before and after ours, a slot each, --endpos: the WAL position after the workload), timed by a shell around it, minus its start-up on an empty slot (median of 3)",
        oursTiming: "from LiveStarted to the BatchCommitted event that completes the workload"
      },
      cases,
      quick,
      date: new Date().toISOString()
    }
    printTable(
      ["case", "changes", "ours changes/s", "ours docs/s", "pg_recvlogical changes/s", "ratio"],
      cases.map((row) => [
        row.name,
        String(row.changes),
        row.ours.toFixed(0),
        row.oursDocumentsPerSecond.toFixed(0),
        row.anchor.toFixed(0),
        row.ratio.toFixed(3)
      ])
    )
    console.log(`goal: ratio >= ${goalRatio} root-only: ${result.goalMet ? "met" : "MISSED"}`)
    console.log(`wrote ${writeResult(import.meta.url, result)}`)
  })
)

Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
