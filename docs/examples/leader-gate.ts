/**
 * Leader-only work with fencing: invoices are charged only by the leader, and every write carries
 * the leader's term, so a write from a deposed leader that arrives late is refused.
 */
import { LeaderGate } from "@converge/core"
import { Data, Effect, Ref, SynchronizedRef } from "effect"

/** A write carried a term older than one the ledger has already seen. */
export class StaleLeader extends Data.TaggedError("StaleLeader")<{
  readonly term: number
  readonly highestTerm: number
}> {}

/** One charge, and the term of the leader that made it. */
export interface Charge {
  readonly invoice: number
  readonly term: number
}

// #region ledger
/** A ledger that refuses writes fenced with an older term (in Postgres: a `term` column and a `WHERE`). */
export const makeLedger = Effect.gen(function* () {
  const state = yield* SynchronizedRef.make({ highestTerm: 0, charges: [] as ReadonlyArray<Charge> })
  const charge = (invoice: number, term: number) =>
    SynchronizedRef.updateEffect(state, (current) =>
      term < current.highestTerm
        ? Effect.fail(new StaleLeader({ term, highestTerm: current.highestTerm }))
        : Effect.succeed({ highestTerm: term, charges: [...current.charges, { invoice, term }] })
    )
  return { charge, charges: Effect.map(SynchronizedRef.get(state), (current) => current.charges) }
})
// #endregion ledger

// #region loop
/**
 * Charges the next invoice every second while this process leads; stops at once when leadership
 * is lost and carries on, with the new term, when it comes back.
 */
export const billingLoop = (ledger: Effect.Effect.Success<typeof makeLedger>) =>
  Effect.gen(function* () {
    const gate = yield* LeaderGate.LeaderGate
    const nextInvoice = yield* Ref.make(1)
    const chargeEverySecond = Effect.gen(function* () {
      const term = yield* gate.term // fixed for this leadership
      while (true) {
        yield* ledger.charge(yield* Ref.getAndUpdate(nextInvoice, (n) => n + 1), term)
        yield* Effect.sleep("1 second")
      }
    })
    // whileLeader waits for leadership, runs the work, and returns None when leadership is lost.
    return yield* Effect.forever(gate.whileLeader(chargeEverySecond))
  })
// #endregion loop
