/**
 * A sample workload for demos and the playground: flows of a few shapes and policies, and
 * simulated workers that claim runnable executions, "work" for a while and complete them, failing
 * some on purpose. The engine (dispatcher and sweeper) must run alongside to carry the cascade.
 *
 * ```text
 *   createFlows every flowEvery ──▶ deps_* tables ◀── claim / complete ── workers × N
 *                                        │ completion events
 *                                        ▼
 *                              Engine (push dispatcher, sweeper)
 * ```
 */
import { SqlClient, type SqlError } from "@effect/sql"
import { Duration, Effect, Random, Schedule, type Scope } from "effect"
import * as Claims from "./Claims.js"
import * as Completion from "./Completion.js"
import type { WorkerOutcome } from "./Model.js"
import * as Policy from "./Policy.js"
import * as Staging from "./Staging.js"

/** The shapes of the sample flows. */
export type Shape = "pipeline" | "fan-out-any" | "quorum-vote" | "diamond-all-done"

/** Every shape, in the order `createFlows` cycles through them. */
export const shapes: ReadonlyArray<Shape> = ["pipeline", "fan-out-any", "quorum-vote", "diamond-all-done"]

const edges = (pairs: ReadonlyArray<readonly [string, string]>): ReadonlyArray<Staging.EdgeSpec> =>
  pairs.map(([upstream, downstream]) => ({ upstream, downstream }))

/**
 * The flow spec of `shape`:
 * - `pipeline`: build → test → deploy (`all_of`: a failure skips the rest);
 * - `fan-out-any`: three mirrors, `download` needs any one (`any_of`, the others are cancelled);
 * - `quorum-vote`: five voters, `commit` at three successes (`quorum(3)`, `let_run`);
 * - `diamond-all-done`: two checks, then `report` once both ended, whatever their outcome (`all_done`).
 */
export const flowSpec = (
  shape: Shape,
  labels: { readonly namespace: string; readonly instanceTag: string }
) => {
  switch (shape) {
    case "pipeline":
      return {
        ...labels,
        executions: [{ name: "build" }, { name: "test" }, { name: "deploy" }],
        edges: edges([
          ["build", "test"],
          ["test", "deploy"]
        ])
      } satisfies Staging.FlowSpec
    case "fan-out-any":
      return {
        ...labels,
        executions: [
          { name: "mirror-a" },
          { name: "mirror-b" },
          { name: "mirror-c" },
          { name: "download", policy: Policy.anyOf }
        ],
        edges: edges([
          ["mirror-a", "download"],
          ["mirror-b", "download"],
          ["mirror-c", "download"]
        ])
      } satisfies Staging.FlowSpec
    case "quorum-vote": {
      const voters = ["vote-1", "vote-2", "vote-3", "vote-4", "vote-5"]
      return {
        ...labels,
        executions: [
          ...voters.map((name) => ({ name })),
          { name: "commit", policy: Policy.quorum(3), onSatisfied: "let_run" as const }
        ],
        edges: edges(voters.map((voter) => [voter, "commit"] as const))
      } satisfies Staging.FlowSpec
    }
    case "diamond-all-done":
      return {
        ...labels,
        executions: [
          { name: "prepare" },
          { name: "lint" },
          { name: "unit" },
          { name: "report", policy: Policy.allDone }
        ],
        edges: edges([
          ["prepare", "lint"],
          ["prepare", "unit"],
          ["lint", "report"],
          ["unit", "report"]
        ])
      } satisfies Staging.FlowSpec
  }
}

/** Stages `count` flows, cycling through `shapes`. */
export const createFlows = (
  count: number,
  labels: { readonly namespace: string; readonly instanceTag: string }
): Effect.Effect<
  ReadonlyArray<Staging.StagedFlow>,
  Staging.StagingError | SqlError.SqlError,
  SqlClient.SqlClient
> =>
  Effect.forEach(
    Array.from({ length: count }, (_, index) => shapes[index % shapes.length] ?? "pipeline"),
    (shape) => Staging.stage(flowSpec(shape, labels))
  )

/** An outcome drawn at random: `failed` with probability `failureRate`, else `succeeded`. */
export const randomOutcome = (failureRate: number): Effect.Effect<WorkerOutcome> =>
  Effect.map(Random.next, (draw) => (draw < failureRate ? "failed" : "succeeded"))

/** How a simulated worker behaves; every field has a default. */
export interface WorkerOptions {
  /** The outcome to report for a claimed execution. Default: `randomOutcome(0.1)`. */
  readonly outcomeOf?: ((execution: Claims.Claimed) => Effect.Effect<WorkerOutcome>) | undefined
  /** Most executions claimed at once. Default 5. */
  readonly claimLimit?: number | undefined
  /** Simulated work per execution. Default 50 ms. */
  readonly workTime?: Duration.DurationInput | undefined
  /** Pause when nothing is runnable. Default 200 ms. */
  readonly idlePause?: Duration.DurationInput | undefined
  /** Called after each completion commits. Default: nothing. */
  readonly onCompleted?:
    | ((execution: Claims.Claimed, outcome: WorkerOutcome) => Effect.Effect<void>)
    | undefined
}

/**
 * Claims up to `claimLimit` runnable executions, works on each and completes it; returns how many
 * it completed. An execution cancelled meanwhile (by a sibling's `cancel_remaining` or a flow
 * cancel) is skipped silently: its outcome is already decided.
 */
export const workOnce = (
  options: WorkerOptions = {}
): Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const outcomeOf = options.outcomeOf ?? (() => randomOutcome(0.1))
    const workTime = Duration.decode(options.workTime ?? Duration.millis(50))
    const claimed = yield* Claims.claimRunnable(options.claimLimit ?? 5)
    let completed = 0
    for (const execution of claimed) {
      if (Duration.toMillis(workTime) > 0) yield* Effect.sleep(workTime)
      const outcome = yield* outcomeOf(execution)
      const done = yield* Completion.complete(execution.id, outcome).pipe(
        Effect.as(true),
        Effect.catchTag("ExecutionNotLive", () => Effect.succeed(false))
      )
      if (done) {
        completed++
        if (options.onCompleted !== undefined) yield* options.onCompleted(execution, outcome)
      }
    }
    return completed
  })

/** A worker that runs `workOnce` forever, pausing `idlePause` whenever nothing was runnable. */
export const worker = (
  options: WorkerOptions = {}
): Effect.Effect<never, SqlError.SqlError, SqlClient.SqlClient> =>
  workOnce(options).pipe(
    Effect.flatMap((completed) =>
      completed > 0 ? Effect.void : Effect.sleep(options.idlePause ?? Duration.millis(200))
    ),
    Effect.forever
  )

/** How the whole sample workload runs; every field has a default. */
export interface Options {
  /** Flows created per round. Default 4 (one of each shape). */
  readonly flowsPerRound?: number | undefined
  /** Time between rounds. Default 5 seconds. */
  readonly flowEvery?: Duration.DurationInput | undefined
  /** Simulated workers. Default 2. */
  readonly workers?: number | undefined
  /** Chance (0–1) that a worker fails an execution on purpose. Default 0.1. */
  readonly failureRate?: number | undefined
  /** Simulated work per execution. Default 50 ms. */
  readonly workTime?: Duration.DurationInput | undefined
  /** Namespace of the flows. Default `sample`. */
  readonly namespace?: string | undefined
  /** Instance tag of the flows. Default `sample`. */
  readonly instanceTag?: string | undefined
}

/**
 * Starts the workload in the current scope: a round of flows every `flowEvery`, and `workers`
 * simulated workers. Failures of a round or a worker are logged and retried, never fatal.
 */
export const start = (options: Options = {}): Effect.Effect<void, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function* () {
    const labels = { namespace: options.namespace ?? "sample", instanceTag: options.instanceTag ?? "sample" }
    const failureRate = options.failureRate ?? 0.1
    const round = createFlows(options.flowsPerRound ?? shapes.length, labels).pipe(
      Effect.tapError((error) => Effect.logWarning("sample workload: creating flows failed", error)),
      Effect.ignore
    )
    yield* Effect.forkScoped(Effect.repeat(round, Schedule.spaced(options.flowEvery ?? Duration.seconds(5))))
    for (let index = 0; index < (options.workers ?? 2); index++) {
      const simulated = worker({
        outcomeOf: () => randomOutcome(failureRate),
        workTime: options.workTime
      }).pipe(
        Effect.tapErrorCause((cause) =>
          Effect.logWarning("sample workload: worker failed; restarting", cause)
        ),
        Effect.retry(Schedule.spaced(Duration.seconds(1)))
      )
      yield* Effect.forkScoped(simulated)
    }
  })

/** Counts of the workload's executions by state, for a status page. */
export const census = (
  namespace = "sample"
): Effect.Effect<Readonly<Record<string, number>>, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly state: string; readonly count: number }>`
      SELECT e.state, count(*)::int AS count FROM deps_executions e JOIN deps_flows f ON f.id = e.flow_id
      WHERE f.namespace = ${namespace} GROUP BY e.state ORDER BY e.state`
    return Object.fromEntries(rows.map((row) => [row.state, row.count]))
  })
