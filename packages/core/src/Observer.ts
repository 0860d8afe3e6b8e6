/**
 * Observers: typed event sinks. An app defines its events as a tagged union and hands an
 * `Observer<Event>` to the pipeline; the pipeline calls `notify` and never depends on what
 * the observer does with it.
 */
import { Cause, Effect, LogLevel } from "effect"
import { dual } from "effect/Function"
import type { Predicate, Refinement } from "effect/Predicate"
import { eventFields, eventTag } from "./internal/events.js"
import type * as Status from "./Status.js"

/** A typed event sink. `notify` never fails; an observer that can fail must report its failure itself. */
export interface Observer<in Event> {
  readonly notify: (event: Event) => Effect.Effect<void>
}

/**
 * Wraps a function that may fail into an observer: a failure (or defect) is logged at error
 * level with the event's `_tag` and never reaches the caller of `notify`.
 */
export const make = <Event, E = never>(f: (event: Event) => Effect.Effect<void, E>): Observer<Event> => ({
  notify: (event) =>
    Effect.catchAllCause(
      Effect.suspend(() => f(event)),
      (cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.interrupt
          : Effect.logError("observer failed", cause).pipe(Effect.annotateLogs("event", eventTag(event)))
    )
})

/**
 * Folds each event into `status` with `reduce` (a pure `(state, event) => state`), atomically,
 * in the order events are notified.
 */
export const statusObserver = <A, I, Event>(
  status: Status.Status<A, I>,
  reduce: (state: A, event: Event) => A
): Observer<Event> => make((event: Event) => status.update((state) => reduce(state, event)))

/**
 * Maps events to Effect metrics: `f` typically pattern-matches the event and increments a
 * counter or sets a gauge. A defect in `f` is logged, never propagated.
 */
export const metricsObserver = <Event>(f: (event: Event) => Effect.Effect<void>): Observer<Event> => make(f)

/** The options of `logObserver`. */
export interface LogOptions<Event> {
  /** The level to log at; `Info` by default. */
  readonly level?: LogLevel.LogLevel
  /** The message; the event's `_tag` by default. Every other field of the event becomes a log annotation. */
  readonly message?: (event: Event) => string
}

/** Logs each event: its `_tag` as the message (unless `message` says otherwise) and its fields as annotations. */
export const logObserver = <Event>(options: LogOptions<Event> = {}): Observer<Event> => {
  const level = options.level ?? LogLevel.Info
  return make((event: Event) =>
    Effect.logWithLevel(level, options.message?.(event) ?? eventTag(event)).pipe(
      Effect.annotateLogs(eventFields(event))
    )
  )
}

/** An observer of `A` built from an observer of `B` and a way to turn each `A` into a `B`. */
export const contramap: {
  <A, B>(f: (event: A) => B): (self: Observer<B>) => Observer<A>
  <A, B>(self: Observer<B>, f: (event: A) => B): Observer<A>
} = dual(
  2,
  <A, B>(self: Observer<B>, f: (event: A) => B): Observer<A> => ({
    notify: (event) => Effect.suspend(() => self.notify(f(event)))
  })
)

/** Passes on only the events that satisfy `predicate` (narrowing the event type with a refinement). */
export const filter: {
  <A, B extends A>(refinement: Refinement<A, B>): (self: Observer<B>) => Observer<A>
  <A>(predicate: Predicate<A>): (self: Observer<A>) => Observer<A>
  <A, B extends A>(self: Observer<B>, refinement: Refinement<A, B>): Observer<A>
  <A>(self: Observer<A>, predicate: Predicate<A>): Observer<A>
} = dual(
  2,
  <A>(self: Observer<A>, predicate: Predicate<A>): Observer<A> => ({
    notify: (event) => (predicate(event) ? self.notify(event) : Effect.void)
  })
)
