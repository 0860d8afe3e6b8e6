/**
 * A fresh Postgres database per test file, on the server of the test run (see `globalSetup`).
 *
 * ```ts
 * it.layer(TestDatabase.layer)("orders", (it) => {
 *   it.effect("stores an order", () => Effect.gen(function* () {
 *     const sql = yield* SqlClient.SqlClient
 *     yield* sql`create table orders (id int primary key)`
 *   }))
 * })
 * ```
 *
 * The database gets a random name, is created when the layer is built (before the file's first
 * test) and dropped when it is released (after the last), with its connections and logical
 * replication slots.
 */
import * as Crypto from "node:crypto"
import { PgCopy } from "@converge/pg"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { Scope } from "effect"
import { Clock, Config, Context, Data, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { inject } from "vitest"
import { databaseUrlKey } from "./internal/provided.js"

/** The database of this test file: its name and a URL to connect to it. */
export class TestDatabase extends Context.Tag("@converge/testing/TestDatabase")<
  TestDatabase,
  TestDatabase.Service
>() {}

/** The types of the TestDatabase service. */
export declare namespace TestDatabase {
  /** A database of its own for one test file. */
  export interface Service {
    /** Its random name, `converge_test_<hex>`. */
    readonly name: string
    /** The server URL with this database in the path. */
    readonly url: string
  }
}

/** No test server is configured, or the test database could not be created. */
export class TestDatabaseError extends Data.TaggedError("TestDatabaseError")<{
  readonly message: string
  readonly cause?: unknown
}> {}

/** PgClient settings for `layerWith`; the connection itself always points at the test database. */
export type ClientConfig = Omit<
  PgClient.PgClientConfig,
  "url" | "host" | "port" | "path" | "database" | "username" | "password"
>

/**
 * The URL of this test run's server: the one `globalSetup` provided, else
 * `CONVERGE_TEST_DATABASE_URL`; fails with a message saying how to configure one.
 */
export const serverUrl: Effect.Effect<string, TestDatabaseError> = Effect.try(() =>
  inject(databaseUrlKey)
).pipe(
  // Outside a vitest worker there is nothing to inject.
  Effect.map(Option.fromNullable),
  Effect.orElseSucceed(() => Option.none<string>()),
  Effect.flatMap(
    Option.match({
      onSome: Effect.succeed,
      onNone: () => Config.nonEmptyString("CONVERGE_TEST_DATABASE_URL")
    })
  ),
  Effect.mapError(
    () =>
      new TestDatabaseError({
        message:
          'No test database server: add `globalSetup: ["@converge/testing/globalSetup"]` to this package\'s ' +
          "vitest.config.ts, or set CONVERGE_TEST_DATABASE_URL to a Postgres server URL"
      })
  )
)

/** The URL of database `name` on the server at `serverUrl` (same credentials and parameters). */
export const databaseUrl = (serverUrl: string, name: string): string => {
  const url = new URL(serverUrl)
  url.pathname = `/${encodeURIComponent(name)}`
  return url.toString()
}

/**
 * Creates a database with a random name on the test server and drops it when the scope closes.
 * A failed drop is a defect, so a leak is reported rather than silently left behind.
 */
export const make: Effect.Effect<TestDatabase.Service, TestDatabaseError, Scope.Scope> = Effect.gen(
  function* () {
    const server = yield* serverUrl
    const name = `converge_test_${Crypto.randomBytes(6).toString("hex")}`
    const onServer = <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError.SqlError>) =>
      Effect.flatMap(SqlClient.SqlClient, f).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(server), maxConnections: 1 }))
      )
    yield* Effect.acquireRelease(
      onServer((sql) => sql`CREATE DATABASE ${sql(name)}`).pipe(
        Effect.mapError(
          (cause) =>
            new TestDatabaseError({
              message: `Could not create test database ${name} on ${redactPassword(server)}: ${cause.message}`,
              cause
            })
        )
      ),
      () =>
        onServer((sql) => dropDatabase(sql, name)).pipe(
          Effect.orDieWith(
            (cause) =>
              new TestDatabaseError({
                message: `Could not drop test database ${name}: ${cause.message}`,
                cause
              })
          )
        )
    )
    return { name, url: databaseUrl(server, name) }
  }
)

/**
 * The test database plus a `PgClient` / `SqlClient` connected to it, built with `config`
 * (e.g. name transforms), and `PgCopy` for bulk loads into it. Share it across a file's tests
 * with `it.layer`.
 */
export const layerWith = (
  config: ClientConfig
): Layer.Layer<
  TestDatabase | PgClient.PgClient | SqlClient.SqlClient | PgCopy.PgCopy,
  TestDatabaseError | SqlError.SqlError
> =>
  Layer.unwrapEffect(
    Effect.map(TestDatabase, (database) =>
      Layer.merge(PgClient.layer({ ...config, url: Redacted.make(database.url) }), PgCopy.layer(database.url))
    )
  ).pipe(Layer.provideMerge(Layer.scoped(TestDatabase, make)))

/** The test database plus a `PgClient` / `SqlClient` and `PgCopy` connected to it, with default settings. */
export const layer: Layer.Layer<
  TestDatabase | PgClient.PgClient | SqlClient.SqlClient | PgCopy.PgCopy,
  TestDatabaseError | SqlError.SqlError
> = layerWith({})

// A database is only dropped once nothing uses it: not its sessions (FORCE closes them) and not
// a logical replication slot, which outlives sessions. A slot's walsender releases it shortly
// after being terminated, so dropping the slots is retried briefly (on the real clock).
const dropDatabase = (sql: SqlClient.SqlClient, name: string) =>
  Effect.gen(function* () {
    yield* sql`select pg_terminate_backend(active_pid) from pg_replication_slots
               where database = ${name} and active_pid is not null`
    yield* sql`select pg_drop_replication_slot(slot_name) from pg_replication_slots where database = ${name}`.pipe(
      Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 100 }),
      Effect.withClock(Clock.make())
    )
    yield* sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`
  })

const redactPassword = (url: string): string => {
  const parsed = new URL(url)
  if (parsed.password !== "") parsed.password = "***"
  return parsed.toString()
}
