/**
 * The six event types of the instance manager. An event wakes a group's reconcile and carries the
 * work its handler must do; its retries follow the `RetryPolicy` configured for its type.
 */
import { Schema } from "effect"

/** The event types, after Nstance's `reconciler` package. */
export const EventType = Schema.Literal(
  "InitialReconcile",
  "GroupChanged",
  "CheckInstance",
  "InstanceDeleted",
  "DrainAcked",
  "TerminationNotice"
)

/** The type of `EventType`. */
export type EventType = typeof EventType.Type

/** Every event type, in a stable order. */
export const all: ReadonlyArray<EventType> = EventType.literals
