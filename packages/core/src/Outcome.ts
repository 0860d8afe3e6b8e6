/**
 * What a reconcile asks of its controller once it has converged as far as it can for now.
 *
 * - `Done`: the key is in its desired state; run it again only when something enqueues it.
 * - `RequeueAfter`: run the key again after `delay` (polling an external system, waiting out a TTL).
 * - `AwaitChange`: the key is waiting on the outside world; a trigger or resync will bring it back.
 *
 * `Done` and `AwaitChange` schedule nothing; they differ in intent, which observers and logs can show.
 * A failure is not an `Outcome`: it is the reconcile's error channel, retried by the controller's policy.
 */
import { Data, Duration } from "effect"

/** The result of one successful reconcile: `Done`, `RequeueAfter { delay }` or `AwaitChange`. */
export type Outcome = Data.TaggedEnum<{
  Done: Record<never, never>
  RequeueAfter: { readonly delay: Duration.Duration }
  AwaitChange: Record<never, never>
}>

/** Constructors, guards (`$is`) and an exhaustive matcher (`$match`) for `Outcome`. */
export const Outcome = Data.taggedEnum<Outcome>()

/** The `Done` variant. */
export type Done = Data.TaggedEnum.Value<Outcome, "Done">

/** The `RequeueAfter` variant. */
export type RequeueAfter = Data.TaggedEnum.Value<Outcome, "RequeueAfter">

/** The `AwaitChange` variant. */
export type AwaitChange = Data.TaggedEnum.Value<Outcome, "AwaitChange">

/** The key has converged; nothing is scheduled. */
export const done: Outcome = Outcome.Done()

/** Run the key again after `delay` (e.g. `"30 seconds"`, `Duration.minutes(1)`, or milliseconds as a number). */
export const requeueAfter = (delay: Duration.DurationInput): Outcome =>
  Outcome.RequeueAfter({ delay: Duration.decode(delay) })

/** The key waits on an outside change; a trigger or resync will enqueue it again. */
export const awaitChange: Outcome = Outcome.AwaitChange()
