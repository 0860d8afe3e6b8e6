/**
 * Convergence: G groups × 10 instances from zero to desired through the simulated provider at
 * 50 ms create latency behind a 100 burst / 20 per s API token bucket, on a real Postgres (the
 * embedded one unless `CONVERGE_TEST_DATABASE_URL` / `DATABASE_URL` is set) and the real clock.
 *
 *   node --import tsx --expose-gc bench/instances-convergence.ts            1 000 groups (≈ 9 min)
 *   node --import tsx --expose-gc bench/instances-convergence.ts --quick    20 groups
 *
 * Anchor: the lower bound the API bucket allows for the creates alone,
 * `(creates − burst) / rate + create latency`. Ours: the time from the manager's start (leader
 * already elected) until every instance exists in the simulated cloud and in the database. The
 * manager also spends API tokens on one `list` per group when it takes leadership (the rebuild
 * from the provider), which the bound does not count; the provider calls are reported. Also
 * reported: reconcile passes per second of wall time.
 */
import { isQuick, printTable, type Result, ratioOf, writeResult } from "@converge/bench"
import { LeaderGate, Metrics } from "@converge/core"
import { EmbeddedPostgres, PgDatabase, PgLeaderGate } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Logger, LogLevel, Metric, Schedule, Schema, Stream } from "effect"
import * as ManagerConfig from "../src/config/ManagerConfig.js"
import { SimulatedProviderConfig } from "../src/config/ProviderConfig.js"
import * as InstanceManager from "../src/InstanceManager.js"
import { Provider } from "../src/provider/Provider.js"
import * as SimulatedProvider from "../src/provider/SimulatedProvider.js"
import * as Notifier from "../src/reconciler/Notifier.js"
import * as Fence from "../src/state/Fence.js"
import * as StateSchema from "../src/state/Schema.js"

const quick = isQuick()
const groups = quick ? 20 : 1_000
const perGroup = 10
const burst = 100
const perSecond = 20
const createLatencyMs = 50
const lockKey = 7_000_901

const program = Effect.gen(function* () {
  const url =
    process.env.CONVERGE_TEST_DATABASE_URL ??
    process.env.DATABASE_URL ??
    (yield* EmbeddedPostgres.make({ settings: { max_connections: 100 } })).url
  const client = yield* PgDatabase.make({ url, poolSize: 16, applicationName: "converge-bench" })
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.provideService(effect, SqlClient.SqlClient, client)
  yield* run(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql.unsafe(
        "DROP TABLE IF EXISTS im_event_successes, im_events, im_instances, im_groups, converge_migrations_instance_manager"
      )
    )
  )
  yield* run(StateSchema.migrate)

  const yaml = [
    `leaderLockKey: ${lockKey}`,
    "concurrency: 16",
    "createRateLimit: { burst: 100000, perSecond: 100000 }",
    "groups:",
    ...Array.from(
      { length: groups },
      (_, index) => `  - { key: g${index}, desiredSize: ${perGroup}, healthInterval: 1h }`
    )
  ].join("\n")
  const config = yield* ManagerConfig.decodeYaml(yaml, "bench")
  const simulation = yield* SimulatedProvider.make(
    Schema.decodeUnknownSync(SimulatedProviderConfig)({
      type: "simulated",
      createLatency: `${createLatencyMs}ms`,
      deleteLatency: "20ms",
      describeLatency: "5ms",
      bootTime: 0,
      api: { burst, perSecond }
    })
  )
  const gate = yield* PgLeaderGate.makeFromClient({ lockKey, checkInterval: "100 millis" }).pipe(
    Effect.provideService(PgClient.PgClient, client)
  )
  yield* gate.isLeader.changes.pipe(
    Stream.filter((leader) => leader),
    Stream.runHead
  )

  const creates = groups * perGroup
  const started = performance.now()
  const manager = yield* run(
    InstanceManager.make(config).pipe(
      Effect.provideService(Provider, simulation.provider),
      Effect.provideService(LeaderGate.LeaderGate, gate),
      Effect.provideService(Fence.Fence, Fence.make(lockKey)),
      Effect.provideService(Notifier.Notifier, Notifier.logging)
    )
  )
  const converged = run(
    Effect.gen(function* () {
      const inCloud = (yield* simulation.controls.instances).length
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{
        readonly live: number
      }>`SELECT count(*)::int AS live FROM im_instances WHERE state <> 'deleted' AND provider_id IS NOT NULL`
      if (quick === false && inCloud % 1000 === 0) console.log(`  ${inCloud} / ${creates} created`)
      return inCloud >= creates && (row?.live ?? 0) >= creates
    })
  )
  yield* Effect.repeat(converged, { until: (done) => done, schedule: Schedule.spaced("100 millis") })
  const seconds = (performance.now() - started) / 1000

  const passesWith = (result: string) =>
    Metric.value(
      Metrics.reconcileTotal.pipe(
        Metric.tagged("controller", "instance-manager"),
        Metric.tagged("result", result)
      )
    )
  let passes = 0
  for (const result of ["success", "requeue_after", "error", "terminal"])
    passes += Number((yield* passesWith(result)).count)
  const calls = yield* simulation.controls.calls
  const lowerBound = Math.max(0, creates - burst) / perSecond + createLatencyMs / 1000
  const ratio = ratioOf(seconds, lowerBound, false)
  const status = yield* manager.status.get
  printTable(
    ["case", "ours (s)", "lower bound (s)", "ratio", "passes/s (wall)", "API calls", "errors"],
    [
      [
        `${groups} groups × ${perGroup}`,
        seconds.toFixed(2),
        lowerBound.toFixed(2),
        ratio.toFixed(3),
        (Number(passes) / seconds).toFixed(1),
        `${calls.create} create, ${calls.list} list, ${calls.describe} describe`,
        String(status.errorsTotal)
      ]
    ]
  )
  const caseResult = {
    name: `${groups} groups × ${perGroup}`,
    ours: seconds,
    anchor: lowerBound,
    ratio,
    passesPerSecond: Number(passes) / seconds,
    providerCalls: calls,
    errors: status.errorsTotal
  }
  const result: Result = {
    name: "instances-convergence",
    metric: "time to converge from zero",
    unit: "s",
    ours: seconds,
    anchor: lowerBound,
    anchorName: `lower bound of the API bucket (${burst} burst, ${perSecond}/s) for ${creates} creates + ${createLatencyMs} ms latency`,
    ratio,
    higherIsBetter: false,
    cases: [caseResult],
    quick,
    date: new Date().toISOString()
  }
  console.log(`wrote ${writeResult(import.meta.url, result)}`)
})

Effect.runPromise(program.pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Warning))).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
