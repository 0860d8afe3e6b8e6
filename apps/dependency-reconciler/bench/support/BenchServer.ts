/**
 * The Postgres server the dependency benchmarks run on: `CONVERGE_TEST_DATABASE_URL` or
 * `DATABASE_URL` when set, else one embedded Postgres started for the run. Each measured side
 * gets a fresh database of its own on that one server, so ours and the anchor share hardware,
 * settings and load.
 */
import * as Crypto from "node:crypto"
import { EmbeddedPostgres, PgDatabase } from "@converge/pg"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import type { Scope } from "effect"
import { Effect, type Layer } from "effect"

/** One server, and fresh databases on it. */
export interface BenchServer {
  /** Where the server came from, for the result file. */
  readonly source: "embedded" | "CONVERGE_TEST_DATABASE_URL" | "DATABASE_URL"
  /** Creates a fresh database (dropped when the scope closes) and returns its URL. */
  readonly freshDatabase: (
    label: string
  ) => Effect.Effect<string, SqlError.SqlError | PgDatabase.ConnectError, Scope.Scope>
}

const databaseUrl = (serverUrl: string, name: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * Starts (or connects to) the server. `settings` are applied to an embedded server only; an
 * external one is used as it is configured.
 */
export const make = (
  settings: Readonly<Record<string, string | number | boolean>> = {}
): Effect.Effect<BenchServer, EmbeddedPostgres.EmbeddedPostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const fromEnv = process.env.CONVERGE_TEST_DATABASE_URL ?? process.env.DATABASE_URL
    const source: BenchServer["source"] =
      process.env.CONVERGE_TEST_DATABASE_URL !== undefined
        ? "CONVERGE_TEST_DATABASE_URL"
        : process.env.DATABASE_URL !== undefined
          ? "DATABASE_URL"
          : "embedded"
    const serverUrl =
      fromEnv ?? (yield* EmbeddedPostgres.make({ settings: { max_connections: 200, ...settings } })).url
    const admin = (statement: string) =>
      Effect.scoped(
        Effect.gen(function* () {
          const client = yield* PgDatabase.make({
            url: serverUrl,
            poolSize: 1,
            applicationName: "converge-bench"
          })
          yield* client.unsafe(statement)
        })
      )
    const freshDatabase = (label: string) =>
      Effect.gen(function* () {
        const name = `converge_bench_${label}_${Crypto.randomBytes(4).toString("hex")}`
        yield* Effect.acquireRelease(admin(`CREATE DATABASE ${name}`), () =>
          admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).pipe(Effect.ignore)
        )
        return databaseUrl(serverUrl, name)
      })
    return { source, freshDatabase }
  })

/** A connection pool of `poolSize` on `url`, as `SqlClient` and `PgClient`. */
export const clientLayer = (
  url: string,
  poolSize: number
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, PgDatabase.ConnectError> =>
  PgDatabase.layer({ url, poolSize, applicationName: "converge-bench" })

/** Runs `effect` with a fresh pool of `poolSize` on `url`. */
export const withClient = <A, E, R>(
  url: string,
  poolSize: number,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | PgDatabase.ConnectError, Exclude<R, PgClient.PgClient | SqlClient.SqlClient>> =>
  Effect.provide(effect, clientLayer(url, poolSize))

/** The server's value of setting `name`. */
export const showSetting = (name: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly setting: string }>`SELECT current_setting(${name}) AS setting`.pipe(
      Effect.map((rows) => rows[0]?.setting ?? "")
    )
  )
