/**
 * End-to-end latency at a fixed rate: root-only rows inserted at 2 000 changes/s (a transaction
 * every 10 ms carrying the rows due by then) while the daemon runs live into the postgres sink;
 * per document, the time from the source row's `created_at` (`clock_timestamp()` inside its
 * transaction, just before the commit) to the sink row's `updated_at` (`now()` of the sink's
 * write), both on the database server's clock. p50 and p99 over every document.
 *
 * Anchor, measured in the same run: `pg_recvlogical` streaming a `test_decoding` slot of the same
 * WAL beside the daemon (`DecodeLatency`): per row, its transaction's commit timestamp to the
 * moment the `COMMIT` line reaches this process — how soon any client can hold the change here,
 * before any document is built or written. Sequin's published end-to-end average (55 ms at ~50k
 * ops/s, its own benchmark) is kept in the result as a reference, not measured here.
 *
 *   node --import tsx --expose-gc bench/cdc-latency.ts            30 s at 2 000 changes/s
 *   node --import tsx --expose-gc bench/cdc-latency.ts --quick    5 s at 2 000 changes/s
 */
import {
  type Case,
  isQuick,
  percentile,
  printTable,
  type Result,
  ratioOf,
  writeResult
} from "@converge/bench"
import { SqlClient } from "@effect/sql"
import { Effect, Layer, Logger, LogLevel, Schedule } from "effect"
import * as BenchServer from "./support/BenchServer.js"
import * as DecodeLatency from "./support/DecodeLatency.js"
import * as OurPipeline from "./support/OurPipeline.js"
import * as Shapes from "./support/Shapes.js"

const quick = isQuick()
const changesPerSecond = 2_000
const seconds = quick ? 5 : 30
const tickMillis = 10
const publishedReference =
  "Sequin, published end-to-end average: 55 ms at ~50k ops/s (its own benchmark; not measured here)"

interface LatencyCase extends Case {
  readonly percentile: "p50" | "p99"
  readonly targetChangesPerSecond: number
  readonly achievedChangesPerSecond: number
  readonly documents: number
  readonly maxMillis: number
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* BenchServer.make()
    const sourceUrl = yield* server.freshDatabase("latency")
    const sinkUrl = yield* server.freshDatabase("sink")
    const source = yield* Layer.build(BenchServer.clientLayer(sourceUrl, 2))
    const machine = yield* Effect.provide(BenchServer.probe, source)
    const shape = Shapes.rootOnly
    yield* Effect.provide(Shapes.prepareSource(shape), source)
    const sink = yield* OurPipeline.postgresSink(sinkUrl, "search")
    const running = yield* OurPipeline.start(yield* Shapes.config(shape, "bench_latency"), sourceUrl, sink)
    yield* running.liveStarted
    const anchor = yield* Effect.provide(
      DecodeLatency.start(sourceUrl, "bench_latency_anchor", `public.${shape.tables[0] ?? shape.index}`),
      source
    )
    yield* anchor.ready

    // Paced by the clock: each tick writes the rows due since the start, so a late tick catches up.
    let written = 0
    const started = performance.now()
    const tick = Effect.gen(function* () {
      const elapsed = (performance.now() - started) / 1000
      const due = Math.min(Math.floor(elapsed * changesPerSecond), seconds * changesPerSecond) - written
      if (due <= 0) return
      yield* Shapes.write(shape, written + 1, due, { _tag: "Bulk", changes: due })
      written += due
    })
    yield* tick.pipe(
      Effect.repeat({
        schedule: Schedule.spaced(`${tickMillis} millis`),
        until: () => written >= seconds * changesPerSecond
      }),
      Effect.provide(source)
    )
    const writeSeconds = (performance.now() - started) / 1000
    yield* running.awaitChanges(written)
    // The anchor has every row too (it is far ahead of us; this returns at once).
    const anchorMillis = yield* anchor.millis.pipe(
      Effect.filterOrFail(
        (millis) => millis.length >= written,
        () => "the anchor has not decoded every row yet"
      ),
      Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("30 seconds"))),
      Effect.orDie
    )
    const anchorAt = (fraction: number) => percentile(anchorMillis, fraction)

    const [stats] = yield* Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      return yield* sql.unsafe<{
        readonly p50: number
        readonly p99: number
        readonly max: number
        readonly documents: number
      }>(`SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY millis) AS p50,
                 percentile_cont(0.99) WITHIN GROUP (ORDER BY millis) AS p99,
                 max(millis) AS max, count(*)::int AS documents
          FROM (SELECT extract(epoch FROM updated_at - (document->>'created_at')::timestamptz)::float8 * 1000 AS millis
                FROM search.${shape.index} WHERE document IS NOT NULL) latencies`)
    }).pipe(Effect.provide(BenchServer.clientLayer(sinkUrl, 1)))
    if (stats === undefined || stats.documents !== written) {
      return yield* Effect.dieMessage(`the sink holds ${stats?.documents} documents, expected ${written}`)
    }
    const achieved = written / writeSeconds
    const cases: ReadonlyArray<LatencyCase> = (["p50", "p99"] as const).map((which) => {
      const ours = which === "p50" ? stats.p50 : stats.p99
      const anchored = anchorAt(which === "p50" ? 0.5 : 0.99)
      return {
        name: `${which} at ${changesPerSecond} changes/s`,
        percentile: which,
        ours,
        anchor: anchored,
        ratio: ratioOf(ours, anchored, false),
        targetChangesPerSecond: changesPerSecond,
        achievedChangesPerSecond: achieved,
        documents: stats.documents,
        maxMillis: stats.max
      }
    })
    const p99 = cases[1] ?? cases[0]
    if (p99 === undefined) return yield* Effect.dieMessage("no latency measured")
    const result: Result = {
      name: "cdc-latency",
      metric: `end-to-end latency (source commit → sink write, database clock) at ${changesPerSecond} changes/s, p99`,
      unit: "ms",
      ours: p99.ours,
      anchor: p99.anchor,
      anchorName:
        "pg_recvlogical (test_decoding, commit timestamps) on the same WAL, same run: commit → the change reaches a client, per row",
      publishedReference,
      ratio: p99.ratio,
      higherIsBetter: false,
      worstCase: p99.name,
      p50Millis: stats.p50,
      p99Millis: stats.p99,
      maxMillis: stats.max,
      server: server.source,
      machine,
      settings: {
        shape: shape.name,
        seconds,
        tickMillis,
        achievedChangesPerSecond: achieved,
        batch: "defaults (max_changes 4096, max_wait_ms 50)",
        measuredFrom: "source row created_at (clock_timestamp() just before its commit)",
        measuredTo: "sink row updated_at (now() of the sink's write statement)"
      },
      cases,
      quick,
      date: new Date().toISOString()
    }
    printTable(
      ["case", "documents", "achieved changes/s", "ours ms", "pg_recvlogical ms", "ratio"],
      cases.map((row) => [
        row.name,
        String(row.documents),
        row.achievedChangesPerSecond.toFixed(0),
        row.ours.toFixed(1),
        row.anchor.toFixed(2),
        row.ratio.toFixed(3)
      ])
    )
    console.log(`max ${stats.max.toFixed(1)} ms; for reference, ${publishedReference}`)
    console.log(`wrote ${writeResult(import.meta.url, result)}`)
  })
)

Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
