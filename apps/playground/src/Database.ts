/**
 * Where the playground's data lives: the Postgres at `--database-url` / `DATABASE_URL`, or else an
 * embedded server in a temporary data directory, removed on exit.
 */
import { EmbeddedPostgres } from "@converge/pg"
import type { SqlClient, SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Option, Redacted } from "effect"

/** A database layer and how to name it in output (never with its password). */
export interface Database {
  readonly layer: Layer.Layer<
    PgClient.PgClient | SqlClient.SqlClient,
    SqlError.SqlError | EmbeddedPostgres.EmbeddedPostgresError
  >
  readonly label: string
}

/** The database at `url`, or an embedded Postgres for the life of the layer when `url` is none. */
export const fromUrl = (url: Option.Option<Redacted.Redacted>): Database =>
  Option.match(url, {
    onSome: (url) => ({ layer: PgClient.layer({ url }), label: "your database (DATABASE_URL)" }),
    onNone: () => ({
      layer: Layer.unwrapScoped(
        Effect.map(EmbeddedPostgres.make(), (server) => PgClient.layer({ url: Redacted.make(server.url) }))
      ),
      label: "embedded Postgres (a temporary data directory, removed on exit)"
    })
  })
