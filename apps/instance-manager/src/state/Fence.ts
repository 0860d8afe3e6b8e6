/**
 * Term fencing for the manager's writes: a fenced write runs in a transaction that first checks,
 * with `PgLeaderGate.assertTerm`, that the leadership term it was decided under is still the latest.
 * A deposed leader's write fails with `StaleTermError` and changes nothing; a new leader's term
 * increment waits for fenced transactions in flight, so no write of an old term lands after it.
 */
import { PgLeaderGate } from "@converge/pg"
import { SqlClient, type SqlError } from "@effect/sql"
import { Context, Effect, Layer } from "effect"

/** Errors of a fenced write besides the write's own. */
export type FenceError = PgLeaderGate.StaleTermError | PgLeaderGate.InvalidLockKeyError | SqlError.SqlError

/** The Fence service: the advisory lock key that leadership is elected on. */
export class Fence extends Context.Tag("@converge/instance-manager/Fence")<Fence, Fence.Service>() {}

/** The types of the Fence service. */
export declare namespace Fence {
  /** Runs writes only while `term` is the latest term of the lock. */
  export interface Service {
    readonly lockKey: number
    /** Runs `write` in a transaction fenced by `term`. */
    readonly fenced: <A, E, R>(
      term: number,
      write: Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | FenceError, R | SqlClient.SqlClient>
  }
}

/** A fence on `lockKey`, the key the manager's `PgLeaderGate` elects on. */
export const make = (lockKey: number): Fence.Service => ({
  lockKey,
  fenced: (term, write) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql.withTransaction(Effect.zipRight(PgLeaderGate.assertTerm(lockKey, term), write))
    )
})

/** The Fence service on `lockKey`. */
export const layer = (lockKey: number): Layer.Layer<Fence> => Layer.succeed(Fence, make(lockKey))
