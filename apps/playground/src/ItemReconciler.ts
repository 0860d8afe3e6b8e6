/**
 * The playground's reconciler: makes the actual row of one item match its desired row, and
 * fails on purpose now and then so retries and backoff can be watched.
 */
import { Outcome } from "@converge/core"
import { Data, Effect, Random } from "effect"
import * as Inventory from "./Inventory.js"

/** A failure the playground injects before touching anything; the controller retries it. */
export class InjectedFailure extends Data.TaggedError("InjectedFailure")<{ readonly id: string }> {
  override get message() {
    return `injected failure while reconciling ${this.id}`
  }
}

/**
 * Builds the reconcile function. With probability `failureRate` (0–1) a run fails with
 * `InjectedFailure` before it reads anything; otherwise it creates, resizes or deletes the
 * actual row so it matches the desired one. Idempotent: running it twice changes nothing more.
 */
export const make = (failureRate: number) => (id: string) =>
  Effect.gen(function* () {
    if ((yield* Random.next) < failureRate) return yield* new InjectedFailure({ id })
    const { desired, actual } = yield* Inventory.read(id)
    if (desired === undefined) {
      if (actual !== undefined) yield* Inventory.deleteActual(id)
    } else if (actual?.replicas !== desired.replicas) {
      yield* Inventory.writeActual(desired)
    }
    return Outcome.done
  })
