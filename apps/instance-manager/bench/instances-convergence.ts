/**
 * Convergence: G groups × 10 instances from zero to desired through the simulated provider at
 * 50 ms create latency behind a 100 burst / 20 per s API token bucket, on a real Postgres (the
 * embedded one unless `CONVERGE_TEST_DATABASE_URL` / `DATABASE_URL` is set) and the real clock.
 *
 *   node --import tsx --expose-gc bench/instances-convergence.ts            1 000 groups (≈ 9 min)
 *   node --import tsx --expose-gc bench/instances-convergence.ts --quick    20 groups
 *
 * Anchor: the lower bound the API bucket allows for the calls the manager must make,
 * `(creates + list pages − burst) / rate + create latency`. The list pages are the rebuild's: on
 * taking leadership the manager lists every instance the provider holds for it (`listAll`, one
 * API call — one token — per page of up to 1 000 instances, as EC2's tag-filtered, paginated
 * DescribeInstances) and each group's `InitialReconcile` rebuilds from its entry in that listing
 * before the group may create anything, because the provider is the truth about what exists (an
 * instance created by a leader that died before recording the answer, or one made outside the
 * manager, must be adopted, not duplicated). The simulated cloud charges pages and creates to the
 * same bucket. The cloud starts empty here, so the listing is one (empty) page: the bound is the
 * creates-only bound `(creates − burst) / rate + create latency` (the issue's wording) plus 1/20 s,
 * and both are printed with their ratios. Before the paginated listing the rebuild cost one `list`
 * per group: 1 000 tokens, 50 s of the 1 000-group run.
 *
 * Ours: the time from the manager's start (leader already elected) until every instance exists
 * in the simulated cloud and in the database (polled every 25 ms). Also reported: when the first
 * and the last create completed in the cloud (no polling error), the provider calls, and
 * reconcile passes per second of wall time.
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
  const startedAt = Date.now()
  const started = performance.now()
  let lastProgress = started
  const manager = yield* run(
    InstanceManager.make(config).pipe(
      Effect.provideService(Provider, simulation.provider),
      Effect.provideService(LeaderGate.LeaderGate, gate),
      Effect.provideService(Fence.Fence, Fence.make(lockKey)),
      Effect.provideService(Notifier.Notifier, Notifier.logging)
    )
  )
  const madeSeconds = (performance.now() - started) / 1000
  const converged = run(
    Effect.gen(function* () {
      const inCloud = (yield* simulation.controls.instances).length
      const sql = yield* SqlClient.SqlClient
      const [row] = yield* sql<{
        readonly live: number
      }>`SELECT count(*)::int AS live FROM im_instances WHERE state <> 'deleted' AND provider_id IS NOT NULL`
      if (quick === false && performance.now() - lastProgress >= 10_000) {
        lastProgress = performance.now()
        console.log(`  ${((lastProgress - started) / 1000).toFixed(0)} s: ${inCloud} / ${creates} created`)
      }
      return inCloud >= creates && (row?.live ?? 0) >= creates
    })
  )
  yield* Effect.repeat(converged, { until: (done) => done, schedule: Schedule.spaced("25 millis") })
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
  const createdTimes = (yield* simulation.controls.instances).map((instance) => instance.createdAt)
  const firstCreate = (Math.min(...createdTimes) - startedAt) / 1000
  const lastCreate = (Math.max(...createdTimes) - startedAt) / 1000
  // The rebuild's listing on taking leadership: the cloud starts empty, so one (empty) page (see the header).
  const listPages = 1
  const lowerBound = Math.max(0, creates + listPages - burst) / perSecond + createLatencyMs / 1000
  const createsOnlyBound = Math.max(0, creates - burst) / perSecond + createLatencyMs / 1000
  const ratio = ratioOf(seconds, lowerBound, false)
  const createsOnlyRatio = ratioOf(seconds, createsOnlyBound, false)
  const status = yield* manager.status.get
  printTable(
    [
      "case",
      "ours (s)",
      "start-up / first / last create (s)",
      "bound (s)",
      "ratio",
      "creates-only bound (s)",
      "ratio",
      "passes/s (wall)",
      "API calls",
      "errors"
    ],
    [
      [
        `${groups} groups × ${perGroup}`,
        seconds.toFixed(2),
        `${madeSeconds.toFixed(2)} / ${firstCreate.toFixed(2)} / ${lastCreate.toFixed(2)}`,
        lowerBound.toFixed(2),
        ratio.toFixed(3),
        createsOnlyBound.toFixed(2),
        createsOnlyRatio.toFixed(3),
        (Number(passes) / seconds).toFixed(1),
        `${calls.create} create, ${calls.listAll} listAll, ${calls.list} list, ${calls.describe} describe`,
        String(status.errorsTotal)
      ]
    ]
  )
  const caseResult = {
    name: `${groups} groups × ${perGroup}`,
    ours: seconds,
    anchor: lowerBound,
    ratio,
    createsOnlyBound,
    createsOnlyRatio,
    startUpSeconds: madeSeconds,
    firstCreateSeconds: firstCreate,
    lastCreateSeconds: lastCreate,
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
    anchorName: `lower bound of the API bucket (${burst} burst, ${perSecond}/s) for ${creates} creates + ${listPages} rebuild list page + ${createLatencyMs} ms latency`,
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
