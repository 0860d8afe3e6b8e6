import { EmbeddedPostgres } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Redacted } from "effect"
import * as Validation from "../src/config/Validation.js"
import { decode } from "./fixtures/shop.js"

// A server of its own, started with wal_level = replica: the shared test server runs logical.
const replicaServer = Layer.unwrapScoped(
  Effect.map(EmbeddedPostgres.make({ durable: false, settings: { wal_level: "replica" } }), (server) =>
    PgClient.layer({ url: Redacted.make(server.url) })
  )
)

describe("Validation on a server without logical decoding", () => {
  it.layer(replicaServer, { timeout: 120_000 })("wal_level = replica", (it) => {
    it.effect("says wal_level must be logical and how to set it", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE tags (id int PRIMARY KEY, label text NOT NULL)`
        const error = yield* decode("indexes: [{ name: tags, table: tags }]").pipe(
          Effect.flatMap(Validation.validate),
          Effect.flip
        )
        expect(error._tag).toBe("ConfigInvalid")
        expect(error._tag === "ConfigInvalid" && error.problems[0]).toEqual({
          at: "source",
          problem: "the server runs with wal_level = replica; logical replication needs wal_level = logical",
          fix: "ALTER SYSTEM SET wal_level = logical; then restart Postgres (on a managed service, turn on logical replication in its parameters)"
        })
      })
    )
  })
})
