/**
 * The Postgres server the dependency benchmarks run on: `CONVERGE_TEST_DATABASE_URL` or
 * `DATABASE_URL` when set, else one embedded Postgres started for the run. Each measured side
 * gets a fresh database of its own on that one server, so ours and the anchor share hardware,
 * settings and load.
 */
import * as Crypto from "node:crypto"
import * as Os from "node:os"
import { median } from "@converge/bench"
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

/** What one statement costs on this server right now: context for results on a shared machine. */
export interface Probe {
  /** Median milliseconds of a `SELECT 1` round trip. */
  readonly selectOneMillis: number
  /** Median milliseconds of a one-row INSERT committed on its own (a durable commit, with fsync by default). */
  readonly commitMillis: number
  /** The 1-minute load average and the core count of the machine. */
  readonly loadAverage: number
  readonly cores: number
}

/** Measures `Probe` on a fresh database of `server` (50 statements of each kind). */
export const probe = (
  server: BenchServer
): Effect.Effect<Probe, SqlError.SqlError | PgDatabase.ConnectError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const url = yield* server.freshDatabase("probe")
      return yield* withClient(
        url,
        1,
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE probe (id serial PRIMARY KEY)`
          const time = (statement: Effect.Effect<unknown, SqlError.SqlError>) =>
            Effect.gen(function* () {
              const millis: Array<number> = []
              for (let index = 0; index < 50; index++) {
                const started = performance.now()
                yield* statement
                millis.push(performance.now() - started)
              }
              return median(millis)
            })
          return {
            selectOneMillis: yield* time(sql`SELECT 1`),
            commitMillis: yield* time(sql`INSERT INTO probe DEFAULT VALUES`),
            loadAverage: Os.loadavg()[0] ?? 0,
            cores: Os.cpus().length
          }
        })
      )
    })
  )
