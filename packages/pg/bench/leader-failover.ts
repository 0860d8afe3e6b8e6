/**
 * Leader failover: seconds from the leader's death to the standby's first `whileLeader` action,
 * with default gate settings (1 s check interval), median over the runs. Two ways to die:
 * - `sigkill`: the leading process (a real child process) is SIGKILLed;
 * - `terminate`: the leading process's connection is ended with `pg_terminate_backend`.
 *
 * The death comes at a uniformly random point of the standby's check interval, as a real crash
 * would. Anchor: controller-runtime's default lease (15 s duration, 10 s renew deadline, 2 s retry
 * period) lets a standby take over up to 15 s after the holder dies; Nstance documents 11–15 s.
 *
 *   npm run bench            20 runs per case, on an embedded Postgres
 *   npm run bench -- --quick 3 runs per case
 */

import { type Case, isQuick, median, percentile, printTable, type Result, writeResult } from "@converge/bench"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, Logger, LogLevel, Option, Random, Redacted, Schedule } from "effect"
import { EmbeddedPostgres, PgLeaderGate } from "../src/index.js"
import * as LeaderProcess from "../test/fixtures/LeaderProcess.js"

const quick = isQuick()
const runs = quick ? 3 : 20
const checkIntervalMillis = 1000
const anchorSeconds = 15
const anchorName =
  "controller-runtime lease (15 s duration / 10 s renew / 2 s retry); Nstance documents 11–15 s"
const standbyName = "bench-standby"
const cases = ["sigkill", "terminate"] as const
type CaseName = (typeof cases)[number]

interface FailoverCase extends Case {
  readonly runs: number
  readonly p90: number
  readonly min: number
  readonly max: number
  readonly seconds: ReadonlyArray<number>
}

/** Waits until the standby has finished a lock attempt: it is connected and polling. */
const awaitStandbyPolling = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    select 1 from pg_stat_activity
    where application_name = ${`converge-leader/${standbyName}`} and state = 'idle'
      and query like 'select pg_try_advisory_lock%'`.pipe(
    Effect.filterOrFail((rows) => rows.length > 0),
    Effect.retry(Schedule.spaced("10 millis")),
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => "The standby never polled the lock" })
  )
})

const terminateLeaderConnection = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly terminated: boolean }>`
    select pg_terminate_backend(pid) as terminated from pg_stat_activity
    where application_name = 'converge-leader/leader-process'`
  if (!rows.some((row) => row.terminated)) yield* Effect.dieMessage("No leader connection to terminate")
})

/** One failover: seconds from the death of the leading process (or of its connection) to the standby's action. */
const failoverOnce = (url: string, lockKey: bigint, death: CaseName) =>
  Effect.scoped(
    Effect.gen(function* () {
      const leader = yield* LeaderProcess.start(url, lockKey, checkIntervalMillis)
      yield* leader.leading.pipe(Effect.timeout("60 seconds"))
      const standby = yield* PgLeaderGate.make({ url, lockKey, name: standbyName })
      const action = yield* standby.whileLeader(Effect.sync(() => performance.now())).pipe(Effect.forkScoped)
      yield* awaitStandbyPolling
      yield* Effect.sleep(Duration.millis((yield* Random.next) * checkIntervalMillis))
      const diedAt = performance.now()
      yield* death === "sigkill" ? leader.kill : terminateLeaderConnection
      const actedAt = yield* action.await.pipe(
        Effect.flatten,
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.dieMessage("The standby lost leadership"),
            onSome: Effect.succeed
          })
        ),
        Effect.timeoutFail({
          duration: "30 seconds",
          onTimeout: () => `The standby did not take over after ${death}`
        })
      )
      return (actedAt - diedAt) / 1000
    })
  )

const measureCase = (url: string, death: CaseName, firstLockKey: bigint) =>
  Effect.gen(function* (): Effect.fn.Return<FailoverCase, unknown, SqlClient.SqlClient> {
    const seconds: Array<number> = []
    for (let run = 0; run < runs; run++) {
      seconds.push(yield* failoverOnce(url, firstLockKey + BigInt(run), death))
    }
    const ours = median(seconds)
    return {
      name: death,
      runs,
      ours,
      p90: percentile(seconds, 0.9),
      min: Math.min(...seconds),
      max: Math.max(...seconds),
      anchor: anchorSeconds,
      ratio: anchorSeconds / ours,
      seconds
    }
  })

const program = Effect.gen(function* () {
  const server = yield* EmbeddedPostgres.EmbeddedPostgres
  const measured: Array<FailoverCase> = []
  for (const [index, death] of cases.entries()) {
    measured.push(yield* measureCase(server.url, death, BigInt((index + 1) * 1000)))
  }
  const worst = measured.reduce((a, b) => (b.ours > a.ours ? b : a))
  const result: Result = {
    name: "pg-leader-failover",
    metric: "seconds from the leader's death to the standby's first whileLeader action (median)",
    unit: "s",
    ours: worst.ours,
    anchor: anchorSeconds,
    anchorName,
    ratio: anchorSeconds / worst.ours,
    higherIsBetter: false,
    worstCase: worst.name,
    goalSeconds: 2,
    checkIntervalMillis,
    cases: measured,
    quick,
    date: new Date().toISOString()
  }
  const format = (value: number) => value.toFixed(3)
  printTable(
    ["case", "runs", "median s", "p90 s", "min s", "max s", "anchor s", "ratio"],
    measured.map((measuredCase) => [
      measuredCase.name,
      String(measuredCase.runs),
      format(measuredCase.ours),
      format(measuredCase.p90),
      format(measuredCase.min),
      format(measuredCase.max),
      String(measuredCase.anchor),
      `${measuredCase.ratio.toFixed(1)}×`
    ])
  )
  console.log(`\nanchor: ${anchorName}; goal: under 2 s`)
  console.log(`wrote ${writeResult(import.meta.url, result)}`)
})

const Database = Layer.unwrapEffect(
  Effect.map(EmbeddedPostgres.EmbeddedPostgres, (server) =>
    PgClient.layer({ url: Redacted.make(server.url), maxConnections: 2 })
  )
).pipe(Layer.provideMerge(EmbeddedPostgres.layer()))

Effect.runPromise(program.pipe(Effect.provide(Database), Logger.withMinimumLogLevel(LogLevel.Warning))).catch(
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  }
)
