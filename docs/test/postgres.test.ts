/**
 * Runs the `@converge/pg` examples: each starts a real embedded Postgres of its own.
 */
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import * as EmbeddedPostgresExample from "../examples/embedded-postgres.js"

const startTimeout = 60_000

describe("embedded-postgres", () => {
  it.live(
    "starts an embedded Postgres 17 with logical replication when DATABASE_URL is not set",
    () =>
      Effect.gen(function* () {
        const settings = yield* EmbeddedPostgresExample.program.pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
        expect(settings?.version).toMatch(/^17\./)
        expect(settings?.walLevel).toBe("logical")
      }),
    startTimeout
  )

  it.scopedLive(
    "creates a database per tenant, each reachable at its URL",
    () =>
      Effect.gen(function* () {
        const urls = yield* EmbeddedPostgresExample.tenantDatabases(["acme", "globex"])
        const names = yield* Effect.forEach(urls, (url) =>
          Effect.flatMap(
            SqlClient.SqlClient,
            (sql) => sql<{ name: string }>`SELECT current_database() AS name`
          ).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url) })))
        )
        expect(names.flat()).toEqual([{ name: "tenant_acme" }, { name: "tenant_globex" }])
      }),
    startTimeout
  )
})
