/**
 * Runs a transaction and runs it again, whole, when Postgres rolls it back because of
 * contention, with bounded, jittered backoff from a `RetryPolicy`.
 *
 * ```text
 *   attempt n: BEGIN [SET TRANSACTION ISOLATION LEVEL …] ▶ effect ▶ COMMIT ──▶ value
 *                │ fails with 40001 / 40P01 / 55P03 (in a statement or at COMMIT)
 *                ▼
 *   attempts left? ── yes ─▶ wait RetryPolicy.sampleDelay(policy, n) ─▶ attempt n + 1
 *                  └─ no ──▶ RetryExhausted { attempts: n, lastError }
 *   any other failure ──▶ fails as is (after ROLLBACK)
 * ```
 *
 * Only contention is retried by default: Postgres guarantees such a transaction was rolled
 * back. A lost connection is retried only with `retryConnectionErrors`, because a connection
 * lost during `COMMIT` leaves unknown whether the transaction committed.
 */
import { RetryPolicy } from "@converge/core"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Cause, Data, Effect, Option } from "effect"
import { dual } from "effect/Function"
import * as SqlState from "./SqlState.js"

/** Gave up: the transaction still failed retryably (contention, or a lost connection if retried) after `attempts` runs. */
export class RetryExhausted extends Data.TaggedError("RetryExhausted")<{
  /** How many times the transaction ran, the first included. */
  readonly attempts: number
  /** Why the last run failed. */
  readonly lastError: SqlState.Contention | SqlState.TransientConnection
  readonly message: string
}> {}

/** An isolation level for the transaction; unset keeps the session's default (normally read committed). */
export type IsolationLevel = "serializable" | "repeatable read" | "read committed"

/** How to retry; every field has a default. */
export interface Options {
  /** Delays and attempt limit (its `nonRetryable` does not apply: only contention, and lost connections with `retryConnectionErrors`, is retried). Default `defaultPolicy`. */
  readonly policy?: RetryPolicy.RetryPolicy | undefined
  /** Set as the transaction's first statement. Default: the session's level. */
  readonly isolationLevel?: IsolationLevel | undefined
  /**
   * Also retry `TransientConnection` errors. Only for transactions that are safe to apply twice:
   * a connection lost during `COMMIT` may have committed. Default `false`.
   */
  readonly retryConnectionErrors?: boolean | undefined
}

/** 10 ms doubling to 1 s, 10 attempts in all, delays drawn from the lower half (50 % full jitter) to spread racers apart. */
export const defaultPolicy: RetryPolicy.RetryPolicy = new RetryPolicy.RetryPolicy({
  initialDelayMs: 10,
  multiplier: 2,
  maxDelayMs: 1_000,
  maxAttempts: 10,
  jitter: new RetryPolicy.Jitter({ fraction: 0.5, mode: "full" }),
  nonRetryable: []
})

/**
 * Runs `effect` in a transaction (`sql.withTransaction`), and again in a fresh one after each
 * contention failure, until it succeeds, fails otherwise, or the policy's attempts run out
 * (then `RetryExhausted`). Serialization failures raised at `COMMIT` are retried too. Inside
 * an enclosing transaction it runs once, as a savepoint: only the outermost call retries, since
 * a contended transaction is lost as a whole.
 */
export const withContentionRetry: {
  (
    options?: Options
  ): <A, E, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | SqlError.SqlError | RetryExhausted, R | SqlClient.SqlClient>
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options?: Options
  ): Effect.Effect<A, E | SqlError.SqlError | RetryExhausted, R | SqlClient.SqlClient>
} = dual(
  (args) => Effect.isEffect(args[0]),
  <A, E, R>(
    effect: Effect.Effect<A, E, R>,
    options: Options = {}
  ): Effect.Effect<A, E | SqlError.SqlError | RetryExhausted, R | SqlClient.SqlClient> =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const enclosing = yield* Effect.serviceOption(SqlClient.TransactionConnection)
      if (Option.isSome(enclosing)) return yield* sql.withTransaction(effect)

      const policy = options.policy ?? defaultPolicy
      const isolationLevel = options.isolationLevel
      const transaction = sql.withTransaction(
        isolationLevel === undefined
          ? effect
          : Effect.zipRight(
              sql.unsafe(`SET TRANSACTION ISOLATION LEVEL ${isolationLevel.toUpperCase()}`),
              effect
            )
      )
      // withTransaction turns a failed COMMIT or ROLLBACK into a defect. A serialization failure
      // at COMMIT still means the transaction was rolled back, so defects are classified too.
      const isRetryable = (
        error: SqlState.Classified
      ): error is SqlState.Contention | SqlState.TransientConnection =>
        error._tag === "Contention" ||
        (error._tag === "TransientConnection" && options.retryConnectionErrors === true)
      const retryable = (cause: Cause.Cause<unknown>) =>
        Option.orElse(Cause.failureOption(cause), () => Cause.dieOption(cause)).pipe(
          Option.map(SqlState.classify),
          Option.filter(isRetryable)
        )
      const attempt = (
        attempts: number
      ): Effect.Effect<A, E | SqlError.SqlError | RetryExhausted, R | SqlClient.SqlClient> =>
        Effect.catchAllCause(transaction, (cause) =>
          Option.match(retryable(cause), {
            onNone: () => Effect.failCause(cause),
            onSome: (lastError) =>
              RetryPolicy.hasAttemptsLeft(policy, attempts)
                ? RetryPolicy.sampleDelay(policy, attempts).pipe(
                    Effect.tap((delay) =>
                      Effect.logDebug("Transaction contended; retrying").pipe(
                        Effect.annotateLogs({ attempt: attempts, code: lastError.code, delay })
                      )
                    ),
                    Effect.flatMap(Effect.sleep),
                    Effect.zipRight(attempt(attempts + 1))
                  )
                : Effect.fail(
                    new RetryExhausted({
                      attempts,
                      lastError,
                      message: `Gave up after ${attempts} attempts: the transaction was still contended (${lastError.message})`
                    })
                  )
          })
        )
      return yield* attempt(1)
    })
)
