/**
 * Observers: typed event sinks. An app defines its events as a tagged union and hands an
 * `Observer<Event>` to the pipeline; the pipeline calls `notify` and never depends on what
 * the observer does with it.
 */
import type { Effect } from "effect"

/** A typed event sink. `notify` never fails; an observer that can fail must report its failure itself. */
export interface Observer<in Event> {
  readonly notify: (event: Event) => Effect.Effect<void>
}
