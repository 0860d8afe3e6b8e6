/**
 * What `converge-playground deps` reports at `/status`: the dependency engine's own status next to
 * a census of the sample workload (flows by state, executions by state), and its one-line summary.
 */
import { DepsMetrics } from "@converge/dependency-reconciler"
import { Schema } from "effect"
import type * as DepsCensus from "./DepsCensus.js"

/** The schema of the `deps` status. */
export const DepsStatus = Schema.Struct({
  startedAt: Schema.Date,
  database: Schema.String,
  /** The engine's status: pending events, sweeps, the push dispatcher's state. */
  engine: DepsMetrics.EngineStatus,
  /** The sample workload's flows by state (`running`, `finished`, `cancelled`) and in all. */
  flows: Schema.Struct({
    created: Schema.Number,
    running: Schema.Number,
    finished: Schema.Number,
    cancelled: Schema.Number
  }),
  /** The sample workload's executions by state (`blocked` … `skipped`). */
  executions: Schema.Record({ key: Schema.String, value: Schema.Number })
})

/** The `deps` status. */
export type DepsStatus = typeof DepsStatus.Type

/** The status before the first census. */
export const initial = (startedAt: Date, database: string, engine: DepsMetrics.EngineStatus): DepsStatus => ({
  startedAt,
  database,
  engine,
  flows: { created: 0, running: 0, finished: 0, cancelled: 0 },
  executions: {}
})

/** Records the engine's latest status and a census of the workload. */
export const withCensus = (
  status: DepsStatus,
  engine: DepsMetrics.EngineStatus,
  census: DepsCensus.Census
): DepsStatus => ({ ...status, engine, flows: census.flows, executions: census.executions })

/**
 * One line of progress, e.g.
 * `flows 12 created, 9 finished · executions succeeded 40, failed 3, runnable 2 · pending events 0`.
 */
export const progressLine = (status: DepsStatus): string => {
  const executions = Object.entries(status.executions)
    .map(([state, count]) => `${state} ${count}`)
    .join(", ")
  return [
    `flows ${status.flows.created} created, ${status.flows.finished} finished`,
    `executions ${executions === "" ? "none yet" : executions}`,
    `pending events ${status.engine.pendingEvents}`,
    `dispatcher ${status.engine.dispatcher}`
  ].join(" · ")
}
