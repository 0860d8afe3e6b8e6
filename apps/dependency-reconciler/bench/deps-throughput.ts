/**
 * Dependency throughput: executions completed (and their completion events dispatched) per
 * second, end to end, through chain, fan-out 1→100, fan-in 100→1 and layered DAGs, with 1 and 4
 * dispatchers; side by side with pg-boss flows (`dependsOn`) on the same shapes, on the same
 * Postgres server (a fresh database per side), in the same run.
 *
 *   node --import tsx --expose-gc bench/deps-throughput.ts            full
 *   node --import tsx --expose-gc bench/deps-throughput.ts --quick    smaller flows; pg-boss at 1 s with 1 instance only
 *
 * Ours: flows staged with `Staging.stage`; N `Engine.run` replicas (push dispatcher, stale
 * sweeper, pending poller), whose push dispatchers LISTEN and, woken by each NOTIFY, claim pending
 * events in leased batches (they split the events, as separate processes would); 4 workers claim runnable executions
 * (`Claims.claimRunnable`, 10 at a time) and complete each with `Completion.complete` (the 10
 * side by side, as a worker running them concurrently would). The clock
 * stops when every execution succeeded and no completion event is pending.
 *
 * pg-boss: flows inserted with `flow()`; N PgBoss instances (the "dispatchers": each runs its own
 * background flow resolver; pg-boss gates them cluster-wide to one pass per interval); 4 workers
 * `fetch()` 10 jobs at a time and `complete()` them in one call. Its resolution runs as pg-boss
 * runs it, measured with the default `flowIntervalSeconds` (5) and tuned to its minimum (1, the
 * anchor), plus an `eager` run with `resolveFlow()` called back to back (not a documented
 * setting: pg-boss's ceiling with the interval taken out). Staging and flow insertion are not
 * timed on either side.
 */
import { type Case, isQuick, printTable, type Result, ratioOf, writeResult } from "@converge/bench"
import { Effect, Logger, LogLevel } from "effect"
import * as Schema from "../src/Schema.js"
import * as BenchServer from "./support/BenchServer.js"
import * as OurWorkload from "./support/OurWorkload.js"
import * as PgBossWorkload from "./support/PgBossWorkload.js"
import * as Shapes from "./support/Shapes.js"

const quick = isQuick()
const dispatcherCounts = [1, 4] as const
const workers = 4
const batch = 10
const dispatchConcurrency = 8
const anchorName = "pg-boss 12.38.0 flows (dependsOn), flowIntervalSeconds 1 (its minimum; default 5)"

const shapes: ReadonlyArray<Shapes.Shape> = quick
  ? [
      { name: "chain", dag: Shapes.chain(3), flows: 15, depth: 3 },
      { name: "fan-out 1→100", dag: Shapes.fanOut(100), flows: 1, depth: 2 },
      { name: "fan-in 100→1", dag: Shapes.fanIn(100), flows: 1, depth: 2 },
      { name: "layered 3×15", dag: Shapes.layered(3, 15, 3), flows: 2, depth: 3 }
    ]
  : [
      { name: "chain", dag: Shapes.chain(10), flows: 50, depth: 10 },
      { name: "fan-out 1→100", dag: Shapes.fanOut(100), flows: 5, depth: 2 },
      { name: "fan-in 100→1", dag: Shapes.fanIn(100), flows: 5, depth: 2 },
      { name: "layered 4×25", dag: Shapes.layered(4, 25, 3), flows: 5, depth: 4 }
    ]

const tuned: PgBossWorkload.Resolution = { _tag: "Interval", flowIntervalSeconds: 1 }
const defaultInterval: PgBossWorkload.Resolution = { _tag: "Interval", flowIntervalSeconds: 5 }
const eager: PgBossWorkload.Resolution = { _tag: "Eager" }

interface ThroughputCase extends Case {
  readonly shape: string
  readonly dispatchers: number
  readonly executions: number
  readonly edges: number
  readonly oursSeconds: number
  readonly oursEventsPerSecond: number
  readonly oursEdgesPerSecond: number
  readonly anchorSeconds: number
  readonly pgBossDefaultIntervalPerSecond: number | null
  readonly ratioToDefaultInterval: number | null
  readonly pgBossEagerPerSecond: number | null
  readonly ratioToEager: number | null
}

const perSecond = (count: number, seconds: number) => count / seconds

const quickAnchors = new Map<string, PgBossWorkload.Measured>()
const lastQuickAnchor = (shape: Shapes.Shape) =>
  Effect.fromNullable(quickAnchors.get(shape.name)).pipe(
    Effect.orDieWith(() => new Error(`no pg-boss measurement of ${shape.name} yet`))
  )

let runs = 0

const measureCase = (ourUrl: string, pgBossUrl: string, shape: Shapes.Shape, dispatchers: number) =>
  Effect.gen(function* () {
    const runId = `run${++runs}`
    const ours = yield* BenchServer.withClient(
      ourUrl,
      workers * batch + dispatchers * dispatchConcurrency + 2,
      OurWorkload.run(shape, { dispatchers, dispatchConcurrency, workers, claimBatch: batch }, runId)
    )
    const pgBoss = (resolution: PgBossWorkload.Resolution, instances: number) =>
      PgBossWorkload.run(
        pgBossUrl,
        shape,
        { instances, workers, fetchBatch: batch, resolution },
        `${runId}_${resolution._tag === "Eager" ? "eager" : resolution.flowIntervalSeconds}_${instances}`
      )
    // pg-boss gates its resolvers to one pass per interval cluster-wide: more instances do not
    // resolve sooner. --quick measures it with 1 instance only and uses that for both counts.
    const anchor =
      quick && dispatchers > 1 ? yield* lastQuickAnchor(shape) : yield* pgBoss(tuned, dispatchers)
    if (quick) quickAnchors.set(shape.name, anchor)
    const atDefault = !quick && dispatchers === 1 ? yield* pgBoss(defaultInterval, 1) : undefined
    const atEager = quick ? undefined : yield* pgBoss(eager, dispatchers)
    const oursRate = perSecond(ours.executions, ours.seconds)
    const anchorRate = perSecond(anchor.executions, anchor.seconds)
    const defaultRate = atDefault === undefined ? null : perSecond(atDefault.executions, atDefault.seconds)
    const eagerRate = atEager === undefined ? null : perSecond(atEager.executions, atEager.seconds)
    const measured: ThroughputCase = {
      name: `${shape.name} / ${dispatchers} dispatcher${dispatchers > 1 ? "s" : ""}`,
      shape: shape.name,
      dispatchers,
      executions: ours.executions,
      edges: ours.edges,
      ours: oursRate,
      anchor: anchorRate,
      ratio: ratioOf(oursRate, anchorRate, true),
      oursSeconds: ours.seconds,
      oursEventsPerSecond: perSecond(ours.events, ours.seconds),
      oursEdgesPerSecond: perSecond(ours.edges, ours.seconds),
      anchorSeconds: anchor.seconds,
      pgBossDefaultIntervalPerSecond: defaultRate,
      ratioToDefaultInterval: defaultRate === null ? null : ratioOf(oursRate, defaultRate, true),
      pgBossEagerPerSecond: eagerRate,
      ratioToEager: eagerRate === null ? null : ratioOf(oursRate, eagerRate, true)
    }
    console.error(`  ${measured.name}: ours ${oursRate.toFixed(0)}/s, pg-boss ${anchorRate.toFixed(0)}/s`)
    return measured
  })

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* BenchServer.make()
    const machine = yield* BenchServer.probe(server)
    const ourUrl = yield* server.freshDatabase("ours")
    yield* BenchServer.withClient(ourUrl, 1, Schema.migrate)
    const pgBossUrl = yield* server.freshDatabase("pgboss")
    const measured: Array<ThroughputCase> = []
    for (const shape of shapes) {
      for (const dispatchers of dispatcherCounts)
        measured.push(yield* measureCase(ourUrl, pgBossUrl, shape, dispatchers))
    }
    const worst = measured.reduce((a, b) => (b.ratio < a.ratio ? b : a))
    const result: Result = {
      name: "deps-throughput",
      metric:
        "executions completed per second, end to end (claim → complete → dispatch → next runnable), worst case",
      unit: "executions/s",
      ours: worst.ours,
      anchor: worst.anchor,
      anchorName,
      ratio: worst.ratio,
      higherIsBetter: true,
      worstCase: worst.name,
      goalRatio: 2,
      server: server.source,
      machine,
      settings: {
        workers,
        claimOrFetchBatch: batch,
        dispatchConcurrencyPerReplica: dispatchConcurrency,
        pgBossAnchor: PgBossWorkload.describe(tuned),
        pgBossAlsoMeasured: quick
          ? []
          : [PgBossWorkload.describe(defaultInterval), PgBossWorkload.describe(eager)],
        pgBossInstances: quick
          ? "1 (reused as the anchor of the 4-dispatcher cases)"
          : "as many as our dispatchers",
        shapes: shapes.map((shape) => ({
          name: shape.name,
          flows: shape.flows,
          executionsPerFlow: shape.dag.nodes.length,
          edgesPerFlow: shape.dag.edges.length,
          depth: shape.depth
        }))
      },
      cases: measured,
      quick,
      date: new Date().toISOString()
    }
    const rate = (value: number | null) => (value === null ? "–" : value.toFixed(0))
    const times = (value: number | null) => (value === null ? "–" : `${value.toFixed(1)}×`)
    printTable(
      [
        "case",
        "execs",
        "ours exec/s",
        "ours events/s",
        "ours edges/s",
        "pg-boss 1 s",
        "ratio",
        "pg-boss 5 s",
        "ratio",
        "pg-boss eager",
        "ratio"
      ],
      measured.map((row) => [
        row.name,
        String(row.executions),
        rate(row.ours),
        rate(row.oursEventsPerSecond),
        rate(row.oursEdgesPerSecond),
        rate(row.anchor),
        times(row.ratio),
        rate(row.pgBossDefaultIntervalPerSecond),
        times(row.ratioToDefaultInterval),
        rate(row.pgBossEagerPerSecond),
        times(row.ratioToEager)
      ])
    )
    console.log(
      `\nanchor: ${anchorName}; goal: ratio ≥ 2; worst case: ${worst.name} (${worst.ratio.toFixed(1)}×)`
    )
    console.log(
      `machine: SELECT 1 ${machine.selectOneMillis.toFixed(2)} ms, durable commit ${machine.commitMillis.toFixed(2)} ms, ` +
        `load average ${machine.loadAverage.toFixed(1)} on ${machine.cores} cores`
    )
    console.log(`wrote ${writeResult(import.meta.url, result)}`)
  })
)

Effect.runPromise(program.pipe(Logger.withMinimumLogLevel(LogLevel.Warning))).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
