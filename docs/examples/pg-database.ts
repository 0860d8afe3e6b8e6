/**
 * The database layer of an app: the Postgres at `DATABASE_URL` when it is set, otherwise an
 * embedded server, with pool settings the environment can override; and a connection check that
 * says what is wrong instead of hanging.
 */
import { PgDatabase } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"

// #region layer
/**
 * `DATABASE_URL` when it is set; otherwise an embedded Postgres that lives as long as the layer,
 * with database `orders` created on it. `CONVERGE_DB_*` variables override the settings below.
 */
export const DatabaseLive = PgDatabase.layerFromEnvOrEmbedded({
  database: "orders",
  applicationName: "orders",
  poolSize: 5,
  statementTimeout: "30 seconds"
})
// #endregion layer

// #region program
/** Which database the app talks to, under which name, and the statement timeout it runs with. */
export const connectionInfo = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [info] = yield* sql<{ database: string; applicationName: string; statementTimeout: string }>`
    SELECT current_database() AS database,
           current_setting('application_name') AS "applicationName",
           current_setting('statement_timeout') AS "statementTimeout"`
  return info
})

export const program = connectionInfo.pipe(Effect.provide(DatabaseLive))
// #endregion program

// #region check
/** A `check-database` command: connects once, within 2 seconds, and says what to fix if it cannot. */
export const checkDatabase = (url: string) =>
  connectionInfo.pipe(
    Effect.provide(PgDatabase.layer({ url, connectTimeout: "2 seconds" })),
    Effect.map((info) => `ok: connected to database "${info?.database}"`),
    Effect.catchTags({
      DatabaseUnreachable: (error) => Effect.succeed(`${error.reason}: ${error.message}`),
      InvalidDatabaseUrl: (error) => Effect.succeed(error.message)
    })
  )
// #endregion check
