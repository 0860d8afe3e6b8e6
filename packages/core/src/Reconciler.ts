/**
 * A reconciler: a level-triggered, idempotent function from a key to an `Outcome`.
 *
 * It is never told why it runs (an add, a retry, a resync, a trigger): it reads the desired
 * and actual state for `key` and closes the difference. A `Controller` owns the loop around it.
 */
import { Data, type Effect } from "effect"
import type { Outcome } from "./Outcome.js"

/** Reconciles one key; fails with `E` to be retried by policy, or with `Terminal` to stop retrying. */
export interface Reconciler<in K, out E = never, out R = never> {
  readonly reconcile: (key: K) => Effect.Effect<Outcome, E, R>
}

/** Wraps a reconcile function as a `Reconciler`. */
export const make = <K, E = never, R = never>(
  reconcile: (key: K) => Effect.Effect<Outcome, E, R>
): Reconciler<K, E, R> => ({ reconcile })

/**
 * A failure that must not be retried (bad input, a permanent refusal): the controller counts it
 * (`result="terminal"`), reports it to its observer and logs, then forgets the key until it is enqueued again.
 */
export class Terminal extends Data.TaggedError("Terminal")<{
  readonly message: string
  readonly cause?: unknown
}> {}
