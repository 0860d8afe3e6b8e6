/**
 * Memory under a backlog: root-only changes written while nothing consumes the slot (bulk
 * transactions of 1 000 rows), then the daemon started against it; the process's heap and RSS are
 * sampled every 250 ms until the whole backlog is in the sink. With flow control and the bounded
 * queue, capture waits for the pipeline, so the peak must not grow with the backlog.
 *
 * Anchor: our own peak heap growth with a backlog ten times smaller, in the same run (flat memory
 * gives a ratio near 1; a pipeline that buffered the backlog would give about 0.1).
 *
 *   node --import tsx --expose-gc bench/cdc-backlog-memory.ts            100 k and 1 M change backlogs
 *   node --import tsx --expose-gc bench/cdc-backlog-memory.ts --quick    3 k and 30 k change backlogs
 */
import {
  type Case,
  collectGarbage,
  isQuick,
  printTable,
  type Result,
  ratioOf,
  writeResult
} from "@converge/bench"
import { Effect, Logger, LogLevel, Schedule } from "effect"
import * as BenchServer from "./support/BenchServer.js"
import * as OurPipeline from "./support/OurPipeline.js"
import * as Shapes from "./support/Shapes.js"
import * as Slots from "./support/Slots.js"

const quick = isQuick()
const largeBacklog = quick ? 30_000 : 1_000_000
const smallBacklog = largeBacklog / 10
const sampleMillis = 250
const megabytes = (bytes: number) => bytes / 1024 / 1024

interface Drained {
  readonly backlog: number
  readonly seconds: number
  readonly peakHeapGrowthMb: number
  readonly peakRssGrowthMb: number
  readonly baselineHeapMb: number
  readonly baselineRssMb: number
}

const drain = (server: BenchServer.BenchServer, backlog: number) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sourceUrl = yield* server.freshDatabase("backlog")
      const sinkUrl = yield* server.freshDatabase("sink")
      const shape = Shapes.rootOnly
      yield* Effect.gen(function* () {
        yield* Shapes.prepareSource(shape)
        yield* Slots.create("bench_backlog")
        yield* Shapes.write(shape, 1, backlog, { _tag: "Bulk", changes: 1_000 })
      }).pipe(Effect.provide(BenchServer.clientLayer(sourceUrl, 1)))
      const sink = yield* OurPipeline.postgresSink(sinkUrl, "search")
      collectGarbage()
      const baseline = process.memoryUsage()
      let peakHeap = baseline.heapUsed
      let peakRss = baseline.rss
      // A full collection before each sample: the live heap, not garbage waiting for the next GC.
      yield* Effect.sync(() => {
        collectGarbage()
        const now = process.memoryUsage()
        peakHeap = Math.max(peakHeap, now.heapUsed)
        peakRss = Math.max(peakRss, now.rss)
      }).pipe(Effect.repeat(Schedule.spaced(`${sampleMillis} millis`)), Effect.forkScoped)
      const running = yield* OurPipeline.start(yield* Shapes.config(shape, "bench_backlog"), sourceUrl, sink)
      const started = yield* running.liveStarted
      const done = yield* running.awaitChanges(backlog)
      const drained: Drained = {
        backlog,
        seconds: (done - started) / 1000,
        peakHeapGrowthMb: megabytes(peakHeap - baseline.heapUsed),
        peakRssGrowthMb: megabytes(peakRss - baseline.rss),
        baselineHeapMb: megabytes(baseline.heapUsed),
        baselineRssMb: megabytes(baseline.rss)
      }
      console.error(
        `  ${backlog} changes: drained in ${drained.seconds.toFixed(1)} s, peak heap +${drained.peakHeapGrowthMb.toFixed(1)} MB, peak RSS +${drained.peakRssGrowthMb.toFixed(1)} MB`
      )
      return drained
    })
  )

interface MemoryCase extends Case {
  readonly measure: "live heap" | "rss"
  readonly backlog: number
  readonly anchorBacklog: number
  readonly drainSeconds: number
  readonly changesPerSecond: number
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* BenchServer.make()
    const machine = yield* Effect.scoped(
      Effect.flatMap(server.freshDatabase("probe"), (url) =>
        Effect.provide(BenchServer.probe, BenchServer.clientLayer(url, 1))
      )
    )
    const small = yield* drain(server, smallBacklog)
    const large = yield* drain(server, largeBacklog)
    // Growth below 1 MB is noise: both sides are floored there so the ratio stays meaningful.
    const floor = (value: number) => Math.max(value, 1)
    const cases: ReadonlyArray<MemoryCase> = (["live heap", "rss"] as const).map((measure) => {
      const ours = floor(measure === "live heap" ? large.peakHeapGrowthMb : large.peakRssGrowthMb)
      const anchor = floor(measure === "live heap" ? small.peakHeapGrowthMb : small.peakRssGrowthMb)
      return {
        name: `peak ${measure} growth, ${largeBacklog} change backlog`,
        measure,
        backlog: largeBacklog,
        anchorBacklog: smallBacklog,
        ours,
        anchor,
        ratio: ratioOf(ours, anchor, false),
        drainSeconds: large.seconds,
        changesPerSecond: largeBacklog / large.seconds
      }
    })
    const worst = cases[0] ?? cases[1]
    if (worst === undefined) return yield* Effect.dieMessage("no memory measured")
    const result: Result = {
      name: "cdc-backlog-memory",
      metric: `peak memory growth (MB over a post-GC baseline) while draining a ${largeBacklog} change backlog, live heap (RSS in cases)`,
      unit: "MB",
      ours: worst.ours,
      anchor: worst.anchor,
      anchorName: `ours with a ${smallBacklog} change backlog (10× smaller), same run: flat memory gives a ratio near 1`,
      ratio: worst.ratio,
      higherIsBetter: false,
      worstCase: worst.name,
      server: server.source,
      machine,
      settings: {
        shape: "root-only",
        sampleMillis,
        queue: "defaults (queue_capacity 16384 parts, max_changes 4096)",
        drains: [small, large]
      },
      cases,
      quick,
      date: new Date().toISOString()
    }
    printTable(
      ["case", "ours MB", `${smallBacklog} backlog MB`, "ratio", "drain changes/s"],
      cases.map((row) => [
        row.name,
        row.ours.toFixed(1),
        row.anchor.toFixed(1),
        row.ratio.toFixed(2),
        row.changesPerSecond.toFixed(0)
      ])
    )
    console.log(`wrote ${writeResult(import.meta.url, result)}`)
  })
)

Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((error: unknown) => {
  console.error(error)
  process.exit(1)
})
