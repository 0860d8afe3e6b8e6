/**
 * A database for an app: the Postgres at `DATABASE_URL` when it is set, otherwise a real embedded
 * server that starts with the layer and stops (removing its data) when the layer is released.
 */
import { EmbeddedPostgres } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Config, Effect, Layer, Option, Redacted } from "effect"

// #region layer
/** A `SqlClient` on `DATABASE_URL`, or on an embedded server living as long as the layer. */
export const DatabaseLive = Layer.unwrapScoped(
  Effect.gen(function* () {
    const configured = yield* Config.option(Config.redacted("DATABASE_URL"))
    if (Option.isSome(configured)) return PgClient.layer({ url: configured.value })
    const server = yield* EmbeddedPostgres.make() // a temporary data directory on a free port
    return PgClient.layer({ url: Redacted.make(server.url) })
  })
)
// #endregion layer

// #region program
/** Which server the app talks to, and whether it can do logical replication (CDC needs it). */
export const program = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [settings] = yield* sql<{ version: string; walLevel: string }>`
    SELECT current_setting('server_version') AS version, current_setting('wal_level') AS "walLevel"`
  return settings
}).pipe(Effect.provide(DatabaseLive))
// #endregion program

// #region databases
/** A database of its own per tenant on one embedded server; returns the tenants' URLs. */
export const tenantDatabases = (tenants: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const server = yield* EmbeddedPostgres.make({ durable: false }) // fsync off: for throwaway data
    return yield* Effect.forEach(tenants, (tenant) =>
      Effect.as(server.createDatabase(`tenant_${tenant}`), server.databaseUrl(`tenant_${tenant}`))
    )
  })
// #endregion databases
