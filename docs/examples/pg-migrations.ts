/**
 * Migrations shipped with an app: `NNNN_name.sql` files in a directory next to the code, applied
 * in one transaction and recorded in the app's own table, `converge_migrations_orders`.
 */
import { Migrations } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { Console, Effect } from "effect"

// #region migrations
/** The orders app's migrations: `examples/migrations/*.sql`, ordered by their `NNNN` id. */
export const orderMigrations = {
  app: "orders",
  loader: Migrations.fromDirectory(new URL("./migrations", import.meta.url))
}

/** Migrates when built: provide it to the app, so the app starts only on an up-to-date schema. */
export const MigrateOnStart = Migrations.layer(orderMigrations)

/** A `migrate` command: applies what is pending and returns it (`[]` when up to date). */
export const migrate = Migrations.run(orderMigrations).pipe(
  Effect.tapErrorTag("MigrationFailed", (error) => Console.error(error.message))
)
// #endregion migrations

// #region app
/** The app: it counts orders by status, on tables its migrations created. */
export const main = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  return yield* sql<{ status: string; count: number }>`
    SELECT status, count(*)::int AS count FROM orders GROUP BY status ORDER BY status`
}).pipe(Effect.provide(MigrateOnStart))
// #endregion app
