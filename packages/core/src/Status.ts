/**
 * A status: the current snapshot of what a pipeline or controller is doing, with a Schema so
 * it can be served as JSON, readable at any time and streamable as changes.
 *
 * Pass the same `Status` into a restarted pipeline and it carries on from the last snapshot.
 */
import { Effect, type ParseResult, Schema, type Stream, SubscriptionRef } from "effect"

/** A typed, observable status snapshot backed by a `SubscriptionRef`. */
export interface Status<A, I = A> {
  /** The schema of the snapshot; `encoded` uses it to produce JSON-safe output. */
  readonly schema: Schema.Schema<A, I>
  /** The current snapshot. */
  readonly get: Effect.Effect<A>
  /** The current snapshot, then every change. */
  readonly changes: Stream.Stream<A>
  /** Replaces the snapshot. */
  readonly set: (value: A) => Effect.Effect<void>
  /** Updates the snapshot atomically. */
  readonly update: (f: (current: A) => A) => Effect.Effect<void>
  /** The current snapshot encoded by `schema`, ready for `JSON.stringify`. */
  readonly encoded: Effect.Effect<I, ParseResult.ParseError>
}

/** Creates a status holding `initial`. */
export const make = <A, I>(schema: Schema.Schema<A, I>, initial: NoInfer<A>): Effect.Effect<Status<A, I>> =>
  Effect.map(SubscriptionRef.make(initial), (ref) => {
    const encode = Schema.encode(schema)
    return {
      schema,
      get: SubscriptionRef.get(ref),
      changes: ref.changes,
      set: (value) => SubscriptionRef.set(ref, value),
      update: (f) => SubscriptionRef.update(ref, f),
      encoded: Effect.flatMap(SubscriptionRef.get(ref), encode)
    }
  })
