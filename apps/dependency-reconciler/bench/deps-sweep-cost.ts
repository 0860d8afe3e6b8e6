/**
 * Two costs of the outbox design, each against its own baseline in the same run:
 *
 * 1. Sweep tick cost: milliseconds of one `StaleSweeper.tick()` (its selection of stale pending
 *    events plus dispatching what it found; here nothing is stale) with 1 M dispatched events in
 *    the table, against the same tick on an empty table (two databases, ticks alternating between
 *    them so the machine's noise hits both alike). The partial index on pending rows should keep
 *    it flat. For context, the same tick once that index is dropped.
 * 2. Commits per second of `Completion.complete` (terminal transition + completion event in one
 *    transaction) from 8 concurrent clients, with the `AFTER INSERT` NOTIFY trigger (a listener
 *    attached, as the push dispatcher would be) against the same schema in a separate database
 *    with the trigger disabled.
 *
 *   node --import tsx --expose-gc bench/deps-sweep-cost.ts            1 000 000 dispatched rows, 10 000 commits per side
 *   node --import tsx --expose-gc bench/deps-sweep-cost.ts --quick    50 000 dispatched rows, 600 commits per side
 */
import { type Case, isQuick, median, percentile, printTable, type Result, writeResult } from "@converge/bench"
import { Notifications } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { type Context, Effect, Layer, Logger, LogLevel, Stream } from "effect"
import * as Completion from "../src/Completion.js"
import * as Schema from "../src/Schema.js"
import * as StaleSweeper from "../src/StaleSweeper.js"
import * as BenchServer from "./support/BenchServer.js"

const quick = isQuick()
const dispatchedRows = quick ? 50_000 : 1_000_000
const ticks = quick ? 30 : 200
const commits = quick ? 600 : 10_000
const committers = 8
const rounds = quick ? 4 : 6

interface Timing {
  readonly median: number
  readonly p99: number
}

/** Median and p99 milliseconds of one tick on each database, ticks alternating between them. */
const timeTicksSideBySide = (
  loaded: Context.Context<SqlClient.SqlClient>,
  empty: Context.Context<SqlClient.SqlClient>
) =>
  Effect.gen(function* () {
    const loadedMillis: Array<number> = []
    const emptyMillis: Array<number> = []
    const timeOne = (context: Context.Context<SqlClient.SqlClient>, into: Array<number>, keep: boolean) =>
      Effect.gen(function* () {
        const started = performance.now()
        const report = yield* Effect.provide(StaleSweeper.tick(), context)
        if (report.scanned !== 0)
          return yield* Effect.dieMessage("the sweep found stale events; the bench expects none")
        if (keep) into.push(performance.now() - started)
      })
    for (let index = 0; index < ticks + 5; index++) {
      yield* timeOne(loaded, loadedMillis, index >= 5)
      yield* timeOne(empty, emptyMillis, index >= 5)
    }
    const timing = (millis: ReadonlyArray<number>): Timing => ({
      median: median(millis),
      p99: percentile(millis, 0.99)
    })
    return { loaded: timing(loadedMillis), empty: timing(emptyMillis) }
  })

/**
 * Sweep tick cost with `dispatchedRows` dispatched events against an empty table (two databases,
 * ticks alternating), then again once the loaded table's partial index is dropped.
 */
const measureSweep = (loadedUrl: string, emptyUrl: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const loaded = yield* Layer.build(BenchServer.clientLayer(loadedUrl, 2))
      const empty = yield* Layer.build(BenchServer.clientLayer(emptyUrl, 2))
      yield* Effect.provide(Schema.migrate, empty)
      yield* Effect.provide(
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* Schema.migrate
          const started = performance.now()
          yield* sql`ALTER TABLE deps_completion_events DISABLE TRIGGER deps_completion_events_notify`
          yield* sql`
            WITH flow AS (
              INSERT INTO deps_flows (namespace, instance_tag, state, finished_at)
              VALUES ('bulk', 'bench', 'finished', now()) RETURNING id
            ), execution AS (
              INSERT INTO deps_executions (flow_id, name, state, finished_at)
              SELECT id, 'bulk', 'succeeded', now() FROM flow RETURNING id, flow_id
            )
            INSERT INTO deps_completion_events
              (execution_id, flow_id, outcome, namespace, instance_tag, committed_at, dispatched_at, attempts)
            SELECT execution.id, execution.flow_id, 'succeeded', 'bulk', 'bench',
                   now() - interval '1 hour', now() - interval '1 hour', 1
            FROM execution, generate_series(1, ${dispatchedRows})`
          yield* sql`ALTER TABLE deps_completion_events ENABLE TRIGGER deps_completion_events_notify`
          yield* sql`VACUUM ANALYZE deps_completion_events`
          console.error(
            `  loaded ${dispatchedRows} dispatched events in ${((performance.now() - started) / 1000).toFixed(1)} s`
          )
        }),
        loaded
      )
      const withIndex = yield* timeTicksSideBySide(loaded, empty)
      yield* Effect.provide(
        Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.zipRight(sql`DROP INDEX deps_completion_events_pending`, sql`ANALYZE deps_completion_events`)
        ),
        loaded
      )
      const withoutIndex = yield* timeTicksSideBySide(loaded, empty)
      return { empty: withIndex.empty, loaded: withIndex.loaded, withoutIndex: withoutIndex.loaded }
    })
  )

/** A database ready for the commits measure: migrated, the trigger on or off, a listener attached, `commits` runnable executions. */
const prepareCommits = (url: string, trigger: boolean) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(BenchServer.clientLayer(url, committers + 1))
    return yield* Effect.provide(
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* Schema.migrate
        if (!trigger)
          yield* sql`ALTER TABLE deps_completion_events DISABLE TRIGGER deps_completion_events_notify`
        // One execution per flow, so no two completions wait on the same flow row (its finished-flow check).
        const rows = yield* sql<{ readonly id: string }>`
          WITH flows AS (
            INSERT INTO deps_flows (namespace, instance_tag)
            SELECT 'commits', 'bench' FROM generate_series(1, ${commits}) RETURNING id
          )
          INSERT INTO deps_executions (flow_id, name, state) SELECT id, 'x', 'runnable' FROM flows
          RETURNING id::text AS id`
        const notifications = yield* Notifications.make()
        const received = { count: 0 }
        yield* notifications.listen(Schema.notificationChannel).pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              if (event._tag === "Notification") received.count++
            })
          ),
          Effect.forkScoped
        )
        return { context, executionIds: rows.map((row) => row.id), received }
      }),
      context
    )
  })

/** Commits per second of completing `executionIds` with `committers` concurrent `Completion.complete` calls. */
const timeCommits = (context: Context.Context<SqlClient.SqlClient>, executionIds: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const started = performance.now()
    yield* Effect.forEach(executionIds, (id) => Completion.complete(id, "succeeded"), {
      concurrency: committers,
      discard: true
    })
    return executionIds.length / ((performance.now() - started) / 1000)
  }).pipe(Effect.provide(context))

/**
 * Commits per second with and without the trigger: `rounds` rounds, each completing a slice on
 * both databases back to back (alternating which goes first); the median round of each.
 */
const measureCommits = (withTriggerUrl: string, withoutTriggerUrl: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const withTrigger = yield* prepareCommits(withTriggerUrl, true)
      const withoutTrigger = yield* prepareCommits(withoutTriggerUrl, false)
      const slice = Math.floor(commits / rounds)
      const on: Array<number> = []
      const off: Array<number> = []
      for (let round = 0; round < rounds; round++) {
        const range = [round * slice, (round + 1) * slice] as const
        const timeOn = Effect.map(
          timeCommits(withTrigger.context, withTrigger.executionIds.slice(...range)),
          (rate) => on.push(rate)
        )
        const timeOff = Effect.map(
          timeCommits(withoutTrigger.context, withoutTrigger.executionIds.slice(...range)),
          (rate) => off.push(rate)
        )
        yield* round % 2 === 0 ? Effect.zip(timeOn, timeOff) : Effect.zip(timeOff, timeOn)
      }
      return {
        withTrigger: median(on),
        withoutTrigger: median(off),
        notificationsReceivedByEnd: withTrigger.received.count
      }
    })
  )

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* BenchServer.make()
    const machine = yield* BenchServer.probe(server)
    const sweep = yield* measureSweep(
      yield* server.freshDatabase("loaded"),
      yield* server.freshDatabase("empty")
    )
    const commitRates = yield* measureCommits(
      yield* server.freshDatabase("trigger"),
      yield* server.freshDatabase("notrigger")
    )
    const sweepCase: Case = {
      name: `sweep tick, ${dispatchedRows} dispatched rows vs none`,
      ours: sweep.loaded.median,
      anchor: sweep.empty.median,
      ratio: sweep.empty.median / sweep.loaded.median,
      unit: "ms (median)",
      oursP99: sweep.loaded.p99,
      anchorP99: sweep.empty.p99,
      withoutPartialIndexMedian: sweep.withoutIndex.median,
      withoutPartialIndexP99: sweep.withoutIndex.p99
    }
    const commitsCase: Case = {
      name: `commits/s, NOTIFY trigger on vs off (${committers} clients)`,
      ours: commitRates.withTrigger,
      anchor: commitRates.withoutTrigger,
      ratio: commitRates.withTrigger / commitRates.withoutTrigger,
      unit: "commits/s (median round)",
      commits,
      rounds,
      notificationsReceivedByEnd: commitRates.notificationsReceivedByEnd
    }
    const cases = [sweepCase, commitsCase]
    const worst = cases.reduce((a, b) => (b.ratio < a.ratio ? b : a))
    const result: Result = {
      name: "deps-sweep-cost",
      metric:
        "sweep tick ms with dispatched rows present vs none; commits/s with the NOTIFY trigger vs without",
      unit: `${worst.unit}`,
      ours: worst.ours,
      anchor: worst.anchor,
      anchorName: "the same engine without the load (empty table) / without the trigger",
      ratio: worst.ratio,
      higherIsBetter: worst === commitsCase,
      worstCase: worst.name,
      dispatchedRows,
      dispatchedRowsNote: quick
        ? "--quick: 50 000 dispatched rows instead of 1 000 000"
        : "1 000 000 dispatched rows",
      ticks,
      server: server.source,
      machine,
      cases,
      quick,
      date: new Date().toISOString()
    }
    const ms = (value: number) => value.toFixed(2)
    printTable(
      ["measure", "ours", "baseline", "ratio (>1 better)", "note"],
      [
        [
          `sweep tick median / p99 ms, ${dispatchedRows} dispatched rows`,
          `${ms(sweep.loaded.median)} / ${ms(sweep.loaded.p99)}`,
          `${ms(sweep.empty.median)} / ${ms(sweep.empty.p99)} (none)`,
          `${sweepCase.ratio.toFixed(2)}×`,
          `without the partial index: ${ms(sweep.withoutIndex.median)} / ${ms(sweep.withoutIndex.p99)}`
        ],
        [
          `commits/s, ${committers} clients`,
          `${commitRates.withTrigger.toFixed(0)} (trigger)`,
          `${commitRates.withoutTrigger.toFixed(0)} (no trigger)`,
          `${commitsCase.ratio.toFixed(2)}×`,
          `${commits} completions per side, median of ${rounds} alternating rounds`
        ]
      ]
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
