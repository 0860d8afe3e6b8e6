/**
 * Dependency latency: milliseconds from an upstream's completion commit to its downstream
 * becoming runnable, p50 and p99, on our push path (the trigger's NOTIFY → `Engine.run`'s push
 * dispatcher → the hop's commit), side by side with pg-boss flows (`dependsOn`): from completing
 * the parent job to the child being fetchable (its unblocking commit), on the same Postgres
 * server in the same run.
 *
 *   node --import tsx --expose-gc bench/deps-latency.ts            500 samples per side
 *   node --import tsx --expose-gc bench/deps-latency.ts --quick    60 samples per side, pg-boss's default interval skipped
 *
 * Every sample is a two-node flow A → B. The A's are completed one every 20 ms (open loop,
 * 50 completions/s) and both ends are read from Postgres's own commit timestamps
 * (`track_commit_timestamp`): the transaction that completed A, and the one that made B
 * runnable (ours: the hop; pg-boss: its flow resolver's pass). pg-boss's parent is completed in
 * a transaction the bench opens (`complete(…, { db })`) so its commit can be read the same way.
 * pg-boss runs with its default `flowIntervalSeconds` (5), tuned to its minimum (1, the anchor),
 * and with `resolveFlow()` called back to back (`eager`, not a documented setting). Our latency
 * is also broken down (NOTIFY delivery to a bystander listener, then the hop's steps) to show
 * what limits it.
 */
import { type Case, isQuick, percentile, printTable, type Result, writeResult } from "@converge/bench"
import { Notifications } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { Data, Deferred, Effect, Logger, LogLevel, Runtime, Schedule, Stream } from "effect"
import { PgBoss } from "pg-boss"
import * as Completion from "../src/Completion.js"
import * as Schema from "../src/Schema.js"
import * as Staging from "../src/Staging.js"
import * as BenchServer from "./support/BenchServer.js"
import * as EngineReplicas from "./support/EngineReplicas.js"
import type * as PgBossWorkload from "./support/PgBossWorkload.js"
import * as Shapes from "./support/Shapes.js"

const quick = isQuick()
const samples = quick ? 60 : 500
const paceMillis = 20
const goalP99Millis = 25
const anchorName = "pg-boss 12.38.0 flows (dependsOn), flowIntervalSeconds 1 (its minimum; default 5)"
const queue = "latency"
const pair = Shapes.chain(2)

/** A pg-boss call failed; `message` names the call. */
class PgBossFailed extends Data.TaggedError("PgBossFailed")<{
  readonly message: string
  readonly cause: unknown
}> {}

const attempt = <A>(step: string, promise: () => Promise<A>) =>
  Effect.tryPromise({
    try: promise,
    catch: (cause) => new PgBossFailed({ message: `pg-boss ${step} failed: ${String(cause)}`, cause })
  })

interface Latencies {
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly samples: number
}

const summarize = (values: ReadonlyArray<number>): Latencies => ({
  p50: percentile(values, 0.5),
  p99: percentile(values, 0.99),
  max: Math.max(...values),
  samples: values.length
})

const awaitCount = (
  label: string,
  query: Effect.Effect<number, unknown, SqlClient.SqlClient>,
  target: number
) =>
  query.pipe(
    Effect.filterOrFail((count) => count >= target),
    Effect.retry(Schedule.spaced("5 millis").pipe(Schedule.upTo("60 seconds"))),
    Effect.orDieWith(
      () => new Error(`${label}: fewer than ${target} downstreams became runnable within 60 s`)
    )
  )

const commitMillis = (rows: ReadonlyArray<{ readonly latency_ms: number | null }>) =>
  rows.map((row) => {
    if (row.latency_ms === null)
      throw new Error("A commit timestamp is missing: is track_commit_timestamp on?")
    return row.latency_ms
  })

/** Ours: completion commit of A → commit of the hop that made B runnable, through one engine replica. */
const measureOurs = (server: BenchServer.BenchServer) =>
  Effect.scoped(
    Effect.gen(function* () {
      const url = yield* server.freshDatabase("ours")
      return yield* BenchServer.withClient(
        url,
        16,
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* Schema.migrate
          const flows = yield* Effect.forEach(
            Array.from({ length: samples }, (_, index) => index),
            (index) => Staging.stage(Shapes.toFlowSpec(pair, `latency-${index}`)),
            { concurrency: 4 }
          )
          yield* EngineReplicas.start(1, 8)
          // A bystander listener of its own: when each NOTIFY reaches a client (wall clock, for the breakdown).
          const arrivals = new Map<string, number>()
          const notifications = yield* Notifications.make()
          const listening = yield* Deferred.make<void>()
          yield* notifications.listen(Schema.notificationChannel).pipe(
            Stream.runForEach((event) =>
              event._tag === "Resubscribed"
                ? Effect.asVoid(Deferred.succeed(listening, undefined))
                : Effect.sync(() => {
                    arrivals.set(event.payload, performance.timeOrigin + performance.now())
                  })
            ),
            Effect.forkScoped
          )
          yield* Deferred.await(listening)
          for (const flow of flows) {
            yield* Completion.complete(flow.executionIds.get("a0") ?? "", "succeeded")
            yield* Effect.sleep(paceMillis)
          }
          yield* awaitCount(
            "ours",
            sql<{ readonly count: number }>`
              SELECT count(*)::int AS count FROM deps_executions WHERE name = 'a1' AND state = 'runnable'`.pipe(
              Effect.map((rows) => rows[0]?.count ?? 0)
            ),
            samples
          )
          // Nobody touches A after its completion nor B after its hop: their xmin are those commits.
          const rows = yield* sql<{
            readonly event_id: string
            readonly latency_ms: number | null
            readonly completed_ms: number
            readonly decided_ms: number
            readonly runnable_ms: number
          }>`
            SELECT ev.id::text AS event_id,
                   (extract(epoch FROM pg_xact_commit_timestamp(b.xmin) - pg_xact_commit_timestamp(a.xmin)) * 1000)::float8
                     AS latency_ms,
                   (extract(epoch FROM pg_xact_commit_timestamp(a.xmin)) * 1000)::float8 AS completed_ms,
                   (extract(epoch FROM g.decided_at) * 1000)::float8 AS decided_ms,
                   (extract(epoch FROM pg_xact_commit_timestamp(b.xmin)) * 1000)::float8 AS runnable_ms
            FROM deps_executions a
            JOIN deps_executions b ON a.flow_id = b.flow_id AND b.name = 'a1'
            JOIN deps_completion_events ev ON ev.execution_id = a.id
            JOIN deps_edge_groups g ON g.downstream_id = b.id
            WHERE a.name = 'a0'`
          const arrivedAt = (eventId: string) => arrivals.get(eventId) ?? Number.NaN
          const breakdown = {
            notifyDelivery: summarize(rows.map((row) => arrivedAt(row.event_id) - row.completed_ms)),
            notifiedToDecided: summarize(rows.map((row) => row.decided_ms - arrivedAt(row.event_id))),
            decidedToCommitted: summarize(rows.map((row) => row.runnable_ms - row.decided_ms))
          }
          return { ...summarize(commitMillis(rows)), breakdown }
        })
      )
    })
  )

/** pg-boss: commit of the parent's `complete()` → commit of the resolver pass that unblocked the child. */
const measurePgBoss = (server: BenchServer.BenchServer, resolution: PgBossWorkload.Resolution) =>
  Effect.scoped(
    Effect.gen(function* () {
      const url = yield* server.freshDatabase("pgboss")
      return yield* BenchServer.withClient(
        url,
        4,
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const boss = yield* Effect.acquireRelease(
            attempt("start", async () => {
              const boss = new PgBoss({
                connectionString: url,
                ...(resolution._tag === "Interval"
                  ? { flowIntervalSeconds: resolution.flowIntervalSeconds }
                  : {})
              })
              // pg-boss types its events with the generic EventEmitter of newer @types/node than this repo's.
              const events: NodeJS.EventEmitter = boss as unknown as NodeJS.EventEmitter
              events.on("error", (error: unknown) => console.error("pg-boss error:", error))
              await boss.start()
              return boss
            }),
            (boss) => Effect.promise(() => boss.stop({ graceful: false }))
          )
          yield* attempt("createQueue", () => boss.createQueue(queue))
          const jobs = Shapes.toFlowJobs(pair, queue)
          const flows = yield* Effect.forEach(
            Array.from({ length: samples }, (_, index) => index),
            () => attempt("flow", () => boss.flow(jobs)),
            { concurrency: 4 }
          )
          let fetched = 0
          while (fetched < samples) {
            fetched += (yield* attempt("fetch", () => boss.fetch(queue, { batchSize: 100 }))).length
          }
          let resolving = true
          if (resolution._tag === "Eager") {
            yield* Effect.forkScoped(
              Effect.gen(function* () {
                while (resolving) yield* attempt("resolveFlow", () => boss.resolveFlow())
              })
            )
          }
          const runtime = yield* Effect.runtime<never>()
          const parentCommits: Array<string> = []
          for (const flow of flows) {
            const parentId = flow.a0 ?? ""
            const xid = yield* Effect.scoped(
              Effect.gen(function* () {
                const connection = yield* sql.reserve
                const db = {
                  executeSql: (text: string, values?: Array<unknown>) =>
                    Runtime.runPromise(runtime)(
                      Effect.map(connection.execute(text, values ?? [], undefined), (rows) => ({
                        rows: [...rows]
                      }))
                    )
                }
                yield* connection.execute("BEGIN", [], undefined)
                const [row] = yield* connection.execute("SELECT txid_current()::text AS xid", [], undefined)
                yield* attempt("complete", () => boss.complete(queue, parentId, null, { db }))
                // The completion must be this transaction's own write, or its commit is not the one read below.
                const [own] = yield* connection.execute(
                  `SELECT xmin::text::bigint = txid_current() % 4294967296 AS own
                   FROM pgboss.job WHERE id = $1 AND state = 'completed'`,
                  [parentId],
                  undefined
                )
                if ((own as { readonly own?: boolean } | undefined)?.own !== true) {
                  return yield* Effect.dieMessage(
                    `pg-boss did not complete job ${parentId} in the bench's transaction`
                  )
                }
                yield* connection.execute("COMMIT", [], undefined)
                return String((row as { readonly xid: string }).xid)
              })
            )
            parentCommits.push(xid)
            yield* Effect.sleep(paceMillis)
          }
          const childIds = flows.map((flow) => flow.a1 ?? "")
          yield* awaitCount(
            "pg-boss",
            sql<{ readonly count: number }>`
              SELECT count(*)::int AS count FROM pgboss.job
              WHERE id = ANY(${childIds}::uuid[]) AND state = 'created' AND NOT blocked`.pipe(
              Effect.map((rows) => rows[0]?.count ?? 0)
            ),
            samples
          )
          resolving = false
          // The child is not touched between its unblocking and a fetch, so its xmin is the resolver's commit.
          const rows = yield* sql<{ readonly latency_ms: number | null }>`
            SELECT (extract(epoch FROM pg_xact_commit_timestamp(j.xmin)
                     - pg_xact_commit_timestamp((p.xid::bigint % 4294967296)::text::xid)) * 1000)::float8 AS latency_ms
            FROM unnest(${childIds}::uuid[], ${parentCommits}::text[]) AS p(child_id, xid)
            JOIN pgboss.job j ON j.id = p.child_id`
          return summarize(commitMillis(rows))
        })
      )
    })
  )

interface LatencyCase extends Case {
  readonly percentile: "p50" | "p99"
  readonly pgBossDefaultInterval: number | null
  readonly pgBossEager: number
}

const program = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* BenchServer.make({ track_commit_timestamp: "on" })
    const machine = yield* BenchServer.probe(server)
    const ours = yield* measureOurs(server)
    const tuned = yield* measurePgBoss(server, { _tag: "Interval", flowIntervalSeconds: 1 })
    // --quick skips the default interval: up to 5 s per sample for a figure the 1 s run already bounds.
    const atDefault = quick
      ? undefined
      : yield* measurePgBoss(server, { _tag: "Interval", flowIntervalSeconds: 5 })
    const eager = yield* measurePgBoss(server, { _tag: "Eager" })
    const cases: Array<LatencyCase> = (["p50", "p99"] as const).map((name) => ({
      name,
      percentile: name,
      ours: ours[name],
      anchor: tuned[name],
      ratio: tuned[name] / ours[name],
      pgBossDefaultInterval: atDefault?.[name] ?? null,
      pgBossEager: eager[name]
    }))
    const worst = cases.reduce((a, b) => (b.ratio < a.ratio ? b : a))
    const p99 = cases.find((row) => row.percentile === "p99") ?? worst
    const result: Result = {
      name: "deps-latency",
      metric: "ms from an upstream's completion commit to its downstream's runnable commit (push path)",
      unit: "ms",
      ours: worst.ours,
      anchor: worst.anchor,
      anchorName,
      ratio: worst.ratio,
      higherIsBetter: false,
      worstCase: worst.name,
      goalP99Millis,
      oursP99: p99.ours,
      goalMet: p99.ours < goalP99Millis,
      samples,
      paceMillis,
      server: server.source,
      machine,
      timing: "Postgres commit timestamps (track_commit_timestamp) of both transactions",
      ourSummary: ours,
      ourBreakdownNote:
        "notifyDelivery: completion commit → the NOTIFY reaching a bystander listener in this process (wall clock); " +
        "notifiedToDecided: → the hop's group update (event and edge reads, BEGIN, group lock, edge marker, counters); " +
        "decidedToCommitted: → the hop's commit (downstream update, COMMIT)",
      pgBoss: { flowIntervalSeconds1: tuned, flowIntervalSeconds5: atDefault, eagerResolveFlow: eager },
      cases,
      quick,
      date: new Date().toISOString()
    }
    const ms = (value: number) => value.toFixed(1)
    printTable(
      ["percentile", "ours ms", "pg-boss 1 s ms", "ratio", "pg-boss 5 s ms", "pg-boss eager ms"],
      cases.map((row) => [
        row.name,
        ms(row.ours),
        ms(row.anchor),
        `${row.ratio.toFixed(1)}×`,
        row.pgBossDefaultInterval === null ? "–" : ms(row.pgBossDefaultInterval),
        ms(row.pgBossEager)
      ])
    )
    console.log(
      `\n${samples} samples per side, one completion every ${paceMillis} ms; max: ours ${ms(ours.max)} ms, ` +
        `pg-boss 1 s ${ms(tuned.max)} ms; goal: ours p99 < ${goalP99Millis} ms (${p99.ours < goalP99Millis ? "met" : "missed"})`
    )
    const part = (latencies: Latencies) => `${ms(latencies.p50)} / ${ms(latencies.p99)}`
    console.log(
      `ours, p50 / p99 ms: NOTIFY delivery ${part(ours.breakdown.notifyDelivery)}, ` +
        `notified → group decided ${part(ours.breakdown.notifiedToDecided)}, ` +
        `decided → hop committed ${part(ours.breakdown.decidedToCommitted)}`
    )
    console.log(`anchor: ${anchorName}`)
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
