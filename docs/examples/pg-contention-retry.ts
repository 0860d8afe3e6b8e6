/**
 * A money transfer between two accounts as a SERIALIZABLE transaction that reads balances and
 * writes new ones; when a concurrent transaction changes a balance it read, Postgres rolls it
 * back (40001) and `withContentionRetry` runs it again from the first read.
 */
import { ContentionRetry } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"

/** The source account does not hold `amount`: a business error, never retried. */
export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{
  readonly account: string
  readonly balance: number
  readonly amount: number
}> {}

/** No account has this id. */
export class AccountNotFound extends Data.TaggedError("AccountNotFound")<{ readonly account: string }> {}

// #region schema
/** The accounts table; balances are whole cents and never negative. */
export const createAccounts = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`CREATE TABLE accounts (id text PRIMARY KEY, balance integer NOT NULL CHECK (balance >= 0))`
)
// #endregion schema

// #region transfer
/**
 * Moves `amount` cents from one account to another. The new balances are computed from what the
 * transaction read, which is only safe because SERIALIZABLE makes Postgres reject it if another
 * transaction changed those balances meanwhile; the retry then reads them again.
 */
export const transfer = (from: string, to: string, amount: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const balanceOf = (account: string) =>
      Effect.flatMap(sql<{ balance: number }>`SELECT balance FROM accounts WHERE id = ${account}`, ([row]) =>
        row === undefined ? Effect.fail(new AccountNotFound({ account })) : Effect.succeed(row.balance)
      )
    const source = yield* balanceOf(from)
    const target = yield* balanceOf(to)
    if (source < amount) return yield* new InsufficientFunds({ account: from, balance: source, amount })
    yield* sql`UPDATE accounts SET balance = ${source - amount} WHERE id = ${from}`
    yield* sql`UPDATE accounts SET balance = ${target + amount} WHERE id = ${to}`
  }).pipe(ContentionRetry.withContentionRetry({ isolationLevel: "serializable" }))
// #endregion transfer
