/**
 * Replacement latency, in wall-clock time on the real clock (no `TestClock`): a manager on a real
 * Postgres (the embedded one unless `CONVERGE_TEST_DATABASE_URL` / `DATABASE_URL` is set), the
 * simulated provider (50 ms create latency, 5 ms describe, an API bucket too large to throttle),
 * agents reporting health every 500 ms, and its HTTP API served.
 *
 *   node --import tsx --expose-gc bench/instances-replacement.ts            50 instances per case
 *   node --import tsx --expose-gc bench/instances-replacement.ts --quick    20 instances per case
 *
 * Two cases, each with a manager of its own (fresh tables and cloud) over N groups of 2
 * (`maxSurge: 1`, a replacement budget of 100 %, so neither the surge cap nor the budget holds a
 * replacement back), one measured instance per group:
 *
 * - `missed health reports` (`healthInterval: 2s`): the measured agents all stop reporting at
 *   once. Measured from the instance's last health report the manager recorded to the completion
 *   of its replacement's create in the cloud. The manager may only act after 3 silent health
 *   intervals (the spec's rule), so the anchor — the floor — is `3 × healthInterval + create latency`.
 * - `termination notice` (`healthInterval: 1h`, so no health pass runs around a notice):
 *   `POST /v1/instances/:id/termination-notice` through the HTTP API, one instance at a time.
 *   Measured from just before the request to the completion of the replacement's create in the
 *   cloud; the floor (anchor) is the create latency.
 *
 * Reported: p50 and p99 of each case, and the worst p50 ratio at the top level.
 */
import {
  type Case,
  isQuick,
  median,
  percentile,
  printTable,
  type Result,
  ratioOf,
  writeResult
} from "@converge/bench"
import { LeaderGate } from "@converge/core"
import { EmbeddedPostgres, PgDatabase, PgLeaderGate } from "@converge/pg"
import { FetchHttpClient, HttpApiClient, type HttpClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import {
  Context,
  Effect,
  Layer,
  Logger,
  LogLevel,
  Option,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import * as ManagerConfig from "../src/config/ManagerConfig.js"
import { SimulatedProviderConfig } from "../src/config/ProviderConfig.js"
import * as Api from "../src/http/Api.js"
import * as ApiServer from "../src/http/ApiServer.js"
import * as InstanceManager from "../src/InstanceManager.js"
import { Provider } from "../src/provider/Provider.js"
import * as SimulatedProvider from "../src/provider/SimulatedProvider.js"
import * as Notifier from "../src/reconciler/Notifier.js"
import * as Fence from "../src/state/Fence.js"
import * as InstanceStore from "../src/state/InstanceStore.js"
import * as StateSchema from "../src/state/Schema.js"

const quick = isQuick()
const perCase = quick ? 20 : 50
const perGroup = 2
const healthIntervalMs = 2_000
const agentIntervalMs = 500
const createLatencyMs = 50
const lockKey = 7_000_902

interface ReplacementCase extends Case {
  readonly p99: number
  readonly min: number
  readonly max: number
  readonly instances: number
  readonly seconds: ReadonlyArray<number>
}

const summarize = (name: string, seconds: ReadonlyArray<number>, floor: number): ReplacementCase => {
  const ours = median(seconds)
  return {
    name,
    ours,
    anchor: floor,
    ratio: ratioOf(ours, floor, false),
    p99: percentile(seconds, 0.99),
    min: Math.min(...seconds),
    max: Math.max(...seconds),
    instances: seconds.length,
    seconds
  }
}

/**
 * Runs `measure` against a fresh manager (fresh tables, cloud and agents) whose groups are N
 * groups of 2 with `healthInterval`, once every instance runs and reports; the manager stops after.
 */
const withManager = <A>(
  client: PgClient.PgClient,
  healthInterval: string,
  measure: (setup: {
    readonly manager: InstanceManager.InstanceManager
    readonly simulation: SimulatedProvider.Simulation
    readonly muted: Set<string>
    readonly apiUrl: string
  }) => Effect.Effect<A, unknown, SqlClient.SqlClient | HttpClient.HttpClient | Scope.Scope>
) =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(
        "DROP TABLE IF EXISTS im_event_successes, im_events, im_instances, im_groups, converge_migrations_instance_manager"
      )
      yield* StateSchema.migrate
      const yaml = [
        `leaderLockKey: ${lockKey}`,
        "concurrency: 16",
        "createRateLimit: { burst: 100000, perSecond: 100000 }",
        "groups:",
        ...Array.from(
          { length: perCase },
          (_, index) =>
            `  - { key: g${index}, desiredSize: ${perGroup}, maxSurge: 1, healthInterval: ${healthInterval}, drainTimeout: 1h, replacementBudget: { maxPercent: 100 } }`
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
          api: { burst: 100_000, perSecond: 100_000 }
        })
      )
      const gate = yield* PgLeaderGate.makeFromClient({ lockKey, checkInterval: "100 millis" }).pipe(
        Effect.provideService(PgClient.PgClient, client)
      )
      yield* gate.isLeader.changes.pipe(
        Stream.filter((leader) => leader),
        Stream.runHead
      )
      const manager = yield* InstanceManager.make(config).pipe(
        Effect.provideService(Provider, simulation.provider),
        Effect.provideService(LeaderGate.LeaderGate, gate),
        Effect.provideService(Fence.Fence, Fence.make(lockKey)),
        Effect.provideService(Notifier.Notifier, Notifier.logging)
      )
      // The agents: every running, unmuted instance reports every `agentIntervalMs`, the reports of
      // a round sent concurrently (as separate agents would), so a round stays well within an interval.
      const muted = new Set<string>()
      const reportRound = Effect.flatMap(simulation.controls.instances, (instances) =>
        Effect.forEach(
          instances.filter((instance) => instance.state === "running" && !muted.has(instance.instanceId)),
          (instance) => Effect.ignore(manager.reportHealth(instance.instanceId)),
          { concurrency: 16, discard: true }
        )
      )
      yield* Effect.forkScoped(Effect.repeat(reportRound, Schedule.spaced(`${agentIntervalMs} millis`)))
      const servers = yield* Layer.build(
        ApiServer.layer(manager).pipe(Layer.provide(Layer.succeed(SqlClient.SqlClient, client)))
      )
      const total = perCase * perGroup
      const runningAndReporting = Effect.map(
        sql<{ readonly ready: number }>`
          SELECT count(*)::int AS ready FROM im_instances
          WHERE state = 'running' AND last_health_at IS NOT NULL AND deleted_at IS NULL`,
        (rows) => (rows[0]?.ready ?? 0) >= total
      )
      yield* Effect.repeat(runningAndReporting, {
        until: (ready) => ready,
        schedule: Schedule.spaced("50 millis")
      }).pipe(
        Effect.timeoutFail({
          duration: "90 seconds",
          onTimeout: () => `the ${total} instances did not all run and report within 90 s`
        })
      )
      return yield* measure({
        manager,
        simulation,
        muted,
        apiUrl: Context.get(servers, ApiServer.ApiServer).url
      })
    })
  )

/** The first instance of every group that runs and is not being replaced. */
const measuredInstances = Effect.forEach(
  Array.from({ length: perCase }, (_, index) => `g${index}`),
  (key) =>
    Effect.flatMap(InstanceStore.listLive("default", key), (instances) => {
      const first = instances.find(
        (instance) =>
          instance.state === "running" && instance.unhealthyAt === null && instance.replacementId === null
      )
      return first === undefined
        ? Effect.dieMessage(`group ${key} has no running instance that is not being replaced`)
        : Effect.succeed(first)
    })
)

/** When the replacement of `instanceId` completed its create in the cloud (polled every 10 ms). */
const awaitReplaced = (simulation: SimulatedProvider.Simulation, instanceId: string) =>
  Effect.gen(function* () {
    const found = yield* InstanceStore.get(instanceId)
    const replacement = Option.isSome(found) ? found.value.replacementId : null
    if (replacement === null) return yield* Effect.fail("not yet" as const)
    const created = (yield* simulation.controls.instances).find(
      (instance) => instance.instanceId === replacement
    )
    return created === undefined ? yield* Effect.fail("not yet" as const) : created.createdAt
  }).pipe(
    Effect.retry({ while: (error) => error === "not yet", schedule: Schedule.spaced("10 millis") }),
    Effect.timeoutFail({
      duration: "60 seconds",
      onTimeout: () => `instance ${instanceId} was not replaced within 60 s`
    })
  )

const program = Effect.gen(function* () {
  const url =
    process.env.CONVERGE_TEST_DATABASE_URL ??
    process.env.DATABASE_URL ??
    (yield* EmbeddedPostgres.make({ settings: { max_connections: 100 } })).url
  const client = yield* PgDatabase.make({ url, poolSize: 16, applicationName: "converge-bench" })

  // Missed health reports: every measured agent goes silent at once.
  console.log(
    `missed health reports: ${perCase} groups of ${perGroup}, healthInterval ${healthIntervalMs} ms…`
  )
  const healthSeconds = yield* withManager(client, `${healthIntervalMs}ms`, ({ simulation, muted }) =>
    Effect.gen(function* () {
      const silent = yield* measuredInstances
      for (const instance of silent) muted.add(instance.id)
      yield* Effect.sleep(`${2 * agentIntervalMs} millis`) // reports already on their way land
      const lastReports = yield* Effect.forEach(silent, (instance) =>
        Effect.map(InstanceStore.get(instance.id), (found) =>
          Option.isSome(found) && found.value.lastHealthAt !== null ? found.value.lastHealthAt.getTime() : 0
        )
      )
      return yield* Effect.forEach(
        silent,
        (instance, index) =>
          Effect.map(awaitReplaced(simulation, instance.id), (at) => (at - (lastReports[index] ?? 0)) / 1000),
        { concurrency: "unbounded" }
      )
    })
  ).pipe(Effect.provideService(SqlClient.SqlClient, client))

  // Termination notices through the HTTP API, one at a time, in quiet groups (1 h health interval).
  console.log(`termination notices: ${perCase} groups of ${perGroup}, one notice at a time over HTTP…`)
  const noticeSeconds = yield* withManager(client, "1h", ({ simulation, apiUrl }) =>
    Effect.gen(function* () {
      const apiClient = yield* HttpApiClient.make(Api.InstancesApi, { baseUrl: apiUrl })
      const seconds: Array<number> = []
      for (const instance of yield* measuredInstances) {
        const sentAt = Date.now()
        yield* apiClient.instances.terminationNotice({ path: { instanceId: instance.id } })
        seconds.push(((yield* awaitReplaced(simulation, instance.id)) - sentAt) / 1000)
      }
      return seconds
    })
  ).pipe(Effect.provideService(SqlClient.SqlClient, client))

  const early = [...healthSeconds, ...noticeSeconds].filter((seconds) => seconds < 0).length
  if (early > 0) {
    return yield* Effect.dieMessage(
      `${early} instance(s) were replaced before their trigger (health reports late on an overloaded machine?): the measurement is void`
    )
  }
  const cases = [
    summarize("missed health reports", healthSeconds, (3 * healthIntervalMs + createLatencyMs) / 1000),
    summarize("termination notice", noticeSeconds, createLatencyMs / 1000)
  ]
  printTable(
    ["case", "instances", "p50 (s)", "p99 (s)", "min / max (s)", "floor (s)", "ratio (floor / p50)"],
    cases.map((item) => [
      item.name,
      String(item.instances),
      item.ours.toFixed(3),
      item.p99.toFixed(3),
      `${item.min.toFixed(3)} / ${item.max.toFixed(3)}`,
      item.anchor.toFixed(3),
      item.ratio.toFixed(3)
    ])
  )
  const worst = cases.reduce((a, b) => (b.ratio < a.ratio ? b : a))
  const result: Result = {
    name: "instances-replacement",
    metric: "seconds from the trigger to the replacement's create completing in the cloud (p50, wall clock)",
    unit: "s",
    ours: worst.ours,
    anchor: worst.anchor,
    anchorName: "the floor: 3 × healthInterval + create latency (missed reports), create latency (notice)",
    ratio: worst.ratio,
    higherIsBetter: false,
    worstCase: worst.name,
    healthIntervalMs,
    createLatencyMs,
    clock: "wall clock (real timers)",
    cases,
    quick,
    date: new Date().toISOString()
  }
  console.log(`wrote ${writeResult(import.meta.url, result)}`)
})

Effect.runPromise(
  program.pipe(
    Effect.scoped,
    Effect.provide(FetchHttpClient.layer),
    Logger.withMinimumLogLevel(LogLevel.Warning)
  )
).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
