/** Counts of the dependency reconciler's sample workload: its flows and its executions by state. */
import { SampleWorkload } from "@converge/dependency-reconciler"
import { SqlClient, type SqlError } from "@effect/sql"
import { Effect } from "effect"

/** The sample workload's flows by state and executions by state. */
export interface Census {
  readonly flows: {
    readonly created: number
    readonly running: number
    readonly finished: number
    readonly cancelled: number
  }
  readonly executions: Readonly<Record<string, number>>
}

/** The namespace `SampleWorkload.start` gives its flows by default. */
export const namespace = "sample"

/** Counts the workload's flows (by state) and executions (by state, from `SampleWorkload.census`). */
export const take: Effect.Effect<Census, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly state: string; readonly count: number }>`
    SELECT state, count(*)::int AS count FROM deps_flows WHERE namespace = ${namespace} GROUP BY state`
  const byState = Object.fromEntries(rows.map((row) => [row.state, row.count]))
  const executions = yield* SampleWorkload.census(namespace)
  return {
    flows: {
      created: rows.reduce((total, row) => total + row.count, 0),
      running: byState.running ?? 0,
      finished: byState.finished ?? 0,
      cancelled: byState.cancelled ?? 0
    },
    executions
  }
})
