/**
 * Leadership as a value: whether this process may act, a fencing term per acquisition, and
 * a way to run work only while leadership holds.
 *
 * ```text
 *   election (Postgres lock, LeaderGate.always, controlled) ──▶ isLeader / term
 *                                                                   │
 *   Controller / Sweeper ── whileLeader(work) ◀─────────────────────┘  interrupts on loss
 * ```
 */
import { Context, Effect, Layer, Option, Ref, Stream, SubscriptionRef } from "effect"

/** The LeaderGate service: `isLeader`, a fencing `term`, and `whileLeader`. */
export class LeaderGate extends Context.Tag("@converge/core/LeaderGate")<LeaderGate, LeaderGate.Service>() {}

/** The types of the LeaderGate service. */
export declare namespace LeaderGate {
  /** What every leader gate offers, whatever elects the leader. */
  export interface Service {
    /** `true` while this process holds leadership; subscribe to `changes` to follow it. */
    readonly isLeader: SubscriptionRef.SubscriptionRef<boolean>
    /** The fencing token of the current (or last) acquisition: it grows with every acquisition and is 0 before the first. */
    readonly term: Effect.Effect<number>
    /**
     * Waits until this process leads, runs `effect`, and interrupts it the moment leadership
     * is lost. `Some(result)` when it finished while leading, `None` when leadership was lost first.
     */
    readonly whileLeader: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<Option.Option<A>, E, R>
  }
}

/** A gate whose leadership is set by hand: for tests, and for apps that elect leaders some other way. */
export interface ControlledLeaderGate extends LeaderGate.Service {
  /** Takes (`true`) or gives up (`false`) leadership; each take increments `term`. Setting the current value is a no-op. */
  readonly setLeader: (leader: boolean) => Effect.Effect<void>
}

/**
 * Builds `whileLeader` on top of an `isLeader` ref and a term, for gate implementations
 * (the Postgres gate in `@converge/pg` uses it too).
 */
export const fromRef = (
  isLeader: SubscriptionRef.SubscriptionRef<boolean>,
  term: Effect.Effect<number>
): LeaderGate.Service => {
  const awaitValue = (wanted: boolean) =>
    isLeader.changes.pipe(
      Stream.filter((leader) => leader === wanted),
      Stream.runHead,
      Effect.asVoid
    )
  return {
    isLeader,
    term,
    whileLeader: (effect) =>
      awaitValue(true).pipe(
        Effect.zipRight(
          Effect.raceFirst(
            effect.pipe(Effect.map(Option.some)),
            awaitValue(false).pipe(Effect.as(Option.none()))
          )
        )
      )
  }
}

/** Builds a controlled gate that starts as leader (`term` 1) or not (`term` 0). */
export const makeControlled = (initiallyLeader = false): Effect.Effect<ControlledLeaderGate> =>
  Effect.gen(function* () {
    const isLeader = yield* SubscriptionRef.make(initiallyLeader)
    const term = yield* Ref.make(initiallyLeader ? 1 : 0)
    const lock = yield* Effect.makeSemaphore(1)
    const setLeader = (leader: boolean) =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          if ((yield* SubscriptionRef.get(isLeader)) === leader) return
          if (leader) yield* Ref.update(term, (n) => n + 1)
          yield* SubscriptionRef.set(isLeader, leader)
        })
      )
    return { ...fromRef(isLeader, Ref.get(term)), setLeader }
  })

/** A gate that always leads, with `term` 1: for single-node use. */
export const always: Layer.Layer<LeaderGate> = Layer.effect(LeaderGate, makeControlled(true))
