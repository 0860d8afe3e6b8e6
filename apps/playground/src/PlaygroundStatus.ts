/** What the playground reports at `/status`: how far apart the sets are and what the controller did. */
import type { Controller } from "@converge/core"
import { Cause, Schema } from "effect"
import type * as Inventory from "./Inventory.js"

/** The schema of the playground's status. */
export const PlaygroundStatus = Schema.Struct({
  startedAt: Schema.Date,
  database: Schema.String,
  desired: Schema.Number,
  actual: Schema.Number,
  differing: Schema.Number,
  converged: Schema.Boolean,
  reconciles: Schema.Struct({
    succeeded: Schema.Number,
    failed: Schema.Number,
    terminal: Schema.Number
  }),
  lastFailure: Schema.NullOr(Schema.String)
})

/** The playground's status. */
export type PlaygroundStatus = typeof PlaygroundStatus.Type

/** The status before anything ran. */
export const initial = (startedAt: Date, database: string): PlaygroundStatus => ({
  startedAt,
  database,
  desired: 0,
  actual: 0,
  differing: 0,
  converged: false,
  reconciles: { succeeded: 0, failed: 0, terminal: 0 },
  lastFailure: null
})

/** Folds one controller event into the status. */
export const reduce = (
  status: PlaygroundStatus,
  event: Controller.ControllerEvent<string, unknown>
): PlaygroundStatus => {
  const { reconciles } = status
  switch (event._tag) {
    case "ReconcileSucceeded":
      return { ...status, reconciles: { ...reconciles, succeeded: reconciles.succeeded + 1 } }
    case "ReconcileFailed":
      return {
        ...status,
        reconciles: { ...reconciles, failed: reconciles.failed + 1 },
        lastFailure: `${event.key} (attempt ${event.attempt}): ${Cause.squash(event.cause)}`
      }
    case "ReconcileTerminal":
      return { ...status, reconciles: { ...reconciles, terminal: reconciles.terminal + 1 } }
    default:
      return status
  }
}

/** Records a census of the two sets. */
export const withCensus = (status: PlaygroundStatus, census: Inventory.Census): PlaygroundStatus => ({
  ...status,
  ...census,
  converged: census.differing === 0
})
