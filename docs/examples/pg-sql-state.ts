/**
 * Turning Postgres errors into what they mean: a sign-up whose unique email constraint becomes a
 * domain error, instead of a `SqlError` to parse.
 */
import { SqlState } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"

/** Someone already signed up with this email. */
export class EmailTaken extends Data.TaggedError("EmailTaken")<{ readonly email: string }> {}

/** The customers table: one account per email. */
export const createCustomers = Effect.flatMap(
  SqlClient.SqlClient,
  (
    sql
  ) => sql`CREATE TABLE customers (id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL,
               CONSTRAINT customers_email_key UNIQUE (email))`
)

// #region classify
/**
 * Creates a customer and returns its id. A duplicate email is `EmailTaken`; any other database
 * error stays classified (`Contention`, `Conflict`, `TransientConnection` or `Other`).
 */
export const signUp = (email: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ id: number }>`INSERT INTO customers (email) VALUES (${email}) RETURNING id`
    return row!.id // INSERT … RETURNING returns the inserted row
  }).pipe(
    Effect.mapError(SqlState.classify),
    Effect.catchTag("Conflict", (conflict) =>
      Effect.fail(conflict.constraint === "customers_email_key" ? new EmailTaken({ email }) : conflict)
    )
  )
// #endregion classify
