/**
 * Runs a shape end to end through our engine: flows staged, `Engine.run` replicas listening, then
 * (timed) workers claim runnable executions with `Claims.claimRunnable` and complete each with
 * `Completion.complete` until every execution succeeded and every completion event was
 * dispatched.
 */
import type { Migrations } from "@converge/pg"
import { SqlClient, type SqlError } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Effect, Ref } from "effect"
import * as Claims from "../../src/Claims.js"
import * as Completion from "../../src/Completion.js"
import * as Staging from "../../src/Staging.js"
import * as EngineReplicas from "./EngineReplicas.js"
import * as Shapes from "./Shapes.js"

/** How a run is driven. */
export interface Options {
  /** Engine replicas, each with its push dispatcher. */
  readonly dispatchers: number
  /** Most push dispatches at once per replica. */
  readonly dispatchConcurrency: number
  readonly workers: number
  /** Executions a worker claims at once (and runs side by side). */
  readonly claimBatch: number
}

/** What one run measured. */
export interface Measured {
  readonly seconds: number
  readonly executions: number
  readonly events: number
  readonly edges: number
}

const idle = Effect.sleep("2 millis")

const pendingEvents = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly pending: number }>`
    SELECT count(*)::int AS pending FROM deps_completion_events WHERE dispatched_at IS NULL`.pipe(
    Effect.map((rows) => rows[0]?.pending ?? 0)
  )
)

/**
 * Stages `shape` (namespaces `<runId>-<n>`), runs it to the end and returns the timed part. The
 * database must be migrated, and earlier runs on it finished (nothing pending).
 */
export const run = (
  shape: Shapes.Shape,
  options: Options,
  runId: string
): Effect.Effect<
  Measured,
  Staging.StagingError | Completion.ExecutionNotLive | SqlError.SqlError | Migrations.MigrationFailed,
  SqlClient.SqlClient | PgClient.PgClient
> =>
  Effect.scoped(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const total = Shapes.executionCount(shape)
      const flows = yield* Effect.forEach(
        Array.from({ length: shape.flows }, (_, index) => index),
        (index) => Staging.stage(Shapes.toFlowSpec(shape.dag, `${runId}-${index}`)),
        { concurrency: 4 }
      )
      const flowIds = flows.map((flow) => flow.flowId)
      yield* EngineReplicas.start(options.dispatchers, options.dispatchConcurrency)
      const completed = yield* Ref.make(0)
      const worker = Effect.gen(function* () {
        while ((yield* Ref.get(completed)) < total) {
          const claimed = yield* Claims.claimRunnable(options.claimBatch)
          if (claimed.length === 0) {
            yield* idle
            continue
          }
          // A worker runs the executions it claimed side by side and completes each as it is done.
          yield* Effect.forEach(claimed, (execution) => Completion.complete(execution.id, "succeeded"), {
            concurrency: "unbounded",
            discard: true
          })
          yield* Ref.update(completed, (count) => count + claimed.length)
        }
      })
      const started = performance.now()
      yield* Effect.all(
        Array.from({ length: options.workers }, () => worker),
        {
          concurrency: "unbounded",
          discard: true
        }
      )
      yield* Effect.gen(function* () {
        while ((yield* pendingEvents) > 0) yield* idle
      }).pipe(
        Effect.timeoutFail({
          duration: "120 seconds",
          onTimeout: () =>
            `${shape.name}: completion events still pending 120 s after the last execution completed`
        }),
        Effect.orDie
      )
      const seconds = (performance.now() - started) / 1000
      const [counts] = yield* sql<{ readonly events: number; readonly edges: number }>`
        SELECT (SELECT count(*)::int FROM deps_completion_events WHERE flow_id = ANY(${flowIds}::bigint[])) AS events,
               (SELECT count(*)::int FROM deps_edges d JOIN deps_executions e ON e.id = d.downstream_id
                WHERE e.flow_id = ANY(${flowIds}::bigint[]) AND d.applied_event_id IS NOT NULL) AS edges`
      const [unfinished] = yield* sql<{ readonly count: number }>`
        SELECT count(*)::int AS count FROM deps_executions
        WHERE flow_id = ANY(${flowIds}::bigint[]) AND state <> 'succeeded'`
      if ((unfinished?.count ?? 0) > 0 || counts?.edges !== Shapes.edgeCount(shape)) {
        return yield* Effect.dieMessage(
          `${shape.name}: ${unfinished?.count} executions did not succeed, ${counts?.edges} of ${Shapes.edgeCount(shape)} edges applied`
        )
      }
      return {
        seconds,
        executions: total,
        events: counts.events,
        edges: counts.edges
      } satisfies Measured
    })
  )
