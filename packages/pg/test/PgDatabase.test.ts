import * as Net from "node:net"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, layer } from "@effect/vitest"
import { Clock, ConfigError, ConfigProvider, Duration, Effect, Layer } from "effect"
import { PgDatabase, SqlState } from "../src/index.js"
import * as TestPostgres from "./fixtures/TestPostgres.js"

const withUrl = (url: string, change: (url: URL) => void): string => {
  const parsed = new URL(url)
  change(parsed)
  return parsed.toString()
}

/** A port nothing listens on: bound by the OS, then closed again. */
const closedPort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A server that accepts TCP connections and never answers, like a black-holed host. */
const silentServer = Effect.acquireRelease(
  Effect.async<{ readonly server: Net.Server; readonly sockets: Set<Net.Socket> }>((resume) => {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer((socket) => sockets.add(socket))
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed({ server, sockets })))
  }),
  ({ server, sockets }) =>
    Effect.async<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
).pipe(
  Effect.map(({ server }) => {
    const address = server.address()
    return typeof address === "object" && address !== null ? address.port : 0
  })
)

const elapsed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = yield* Clock.currentTimeMillis
    const result = yield* effect
    return [result, Duration.millis((yield* Clock.currentTimeMillis) - start)] as const
  })

const connectFailure = (options: PgDatabase.Options) => Effect.flip(Effect.scoped(PgDatabase.make(options)))

describe("PgDatabase", () => {
  // Real sockets and a real server: the live clock (no TestClock).
  layer(TestPostgres.layer, { excludeTestServices: true })("on a real server", (it) => {
    it.scoped("connects with explicit options: application name, statement timeout, pool size", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const sql = yield* PgDatabase.make({
          url,
          applicationName: "converge-pg-test-options",
          statementTimeout: Duration.millis(1500),
          poolSize: 2
        })
        const [settings] = yield* sql<{ applicationName: string; statementTimeout: string }>`
          SELECT current_setting('application_name') AS "applicationName",
                 current_setting('statement_timeout') AS "statementTimeout"`
        assert.deepStrictEqual(settings, {
          applicationName: "converge-pg-test-options",
          statementTimeout: "1500ms"
        })

        yield* Effect.all(
          Array.from({ length: 6 }, () => sql`SELECT pg_sleep(0.05)`),
          { concurrency: "unbounded" }
        )
        const [sessions] = yield* sql<{ count: number }>`
          SELECT count(*)::int AS count FROM pg_stat_activity WHERE application_name = 'converge-pg-test-options'`
        assert.strictEqual(sessions?.count, 2)
      })
    )

    it.scoped("cancels a statement that runs past the statement timeout", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const sql = yield* PgDatabase.make({ url, statementTimeout: Duration.millis(100) })
        const error = yield* Effect.flip(sql`SELECT pg_sleep(30)`)
        assert.strictEqual(SqlState.sqlState(error), "57014")
      })
    )

    it.effect("layerConfig reads DATABASE_URL and the CONVERGE_DB_* settings", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const environment = ConfigProvider.fromMap(
          new Map([
            ["DATABASE_URL", url],
            ["CONVERGE_DB_POOL_SIZE", "3"],
            ["CONVERGE_DB_STATEMENT_TIMEOUT_MS", "2500"],
            ["CONVERGE_DB_APPLICATION_NAME", "converge-pg-test-env"]
          ])
        )
        const [settings] = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ applicationName: string; statementTimeout: string; database: string }>`
            SELECT current_setting('application_name') AS "applicationName",
                   current_setting('statement_timeout') AS "statementTimeout",
                   current_database() AS database`
        ).pipe(
          Effect.provide(PgDatabase.layerConfig({ applicationName: "overridden" })),
          Effect.withConfigProvider(environment)
        )
        assert.deepStrictEqual(settings, {
          applicationName: "converge-pg-test-env",
          statementTimeout: "2500ms",
          database: new URL(url).pathname.slice(1)
        })
      })
    )

    it.effect(
      "layerConfig without DATABASE_URL, or with a bad setting, is a ConfigError naming the variable",
      () =>
        Effect.gen(function* () {
          const { url } = yield* TestPostgres.TestPostgres
          const build = (entries: ReadonlyArray<readonly [string, string]>) =>
            Effect.scoped(Layer.build(PgDatabase.layerConfig())).pipe(
              Effect.withConfigProvider(ConfigProvider.fromMap(new Map(entries))),
              Effect.flip
            )
          const missing = yield* build([])
          assert.isTrue(ConfigError.isConfigError(missing))
          assert.include(String(missing), "DATABASE_URL")
          const badPoolSize = yield* build([
            ["DATABASE_URL", url],
            ["CONVERGE_DB_POOL_SIZE", "0"]
          ])
          assert.isTrue(ConfigError.isConfigError(badPoolSize))
          assert.include(String(badPoolSize), "CONVERGE_DB_POOL_SIZE")
        })
    )

    it.effect("layerFromEnvOrEmbedded uses DATABASE_URL when it is set", () =>
      Effect.gen(function* () {
        const { url, name } = yield* TestPostgres.TestPostgres
        const [row] = yield* Effect.flatMap(
          SqlClient.SqlClient,
          (sql) => sql<{ database: string }>`SELECT current_database() AS database`
        ).pipe(
          Effect.provide(PgDatabase.layerFromEnvOrEmbedded({ database: "unused" })),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", url]])))
        )
        assert.deepStrictEqual(row, { database: name })
      })
    )

    it.effect("a wrong password is DatabaseUnreachable(AuthenticationFailed) naming the user", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const error = yield* connectFailure({
          url: withUrl(url, (parsed) => {
            parsed.password = "wrong"
          })
        })
        assert.strictEqual(error._tag, "DatabaseUnreachable")
        if (error._tag !== "DatabaseUnreachable") return
        assert.strictEqual(error.reason, "AuthenticationFailed")
        assert.include(error.message, 'password authentication failed for user "postgres"')
        assert.include(error.message, "check the user name and password")
        assert.notInclude(error.message, "wrong")
      })
    )

    it.effect("an unknown database is DatabaseUnreachable(DatabaseNotFound) naming it", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const error = yield* connectFailure({ url, database: "no_such_database" })
        assert.strictEqual(error._tag, "DatabaseUnreachable")
        if (error._tag !== "DatabaseUnreachable") return
        assert.strictEqual(error.reason, "DatabaseNotFound")
        assert.include(error.message, 'Database "no_such_database" does not exist')
      })
    )
  })

  layer(Layer.empty, { excludeTestServices: true })("without a server", (it) => {
    it.effect("a closed port fails fast with DatabaseUnreachable naming host, port and what to check", () =>
      Effect.gen(function* () {
        const port = yield* closedPort
        const [error, took] = yield* elapsed(
          connectFailure({ url: `postgresql://app:secret@127.0.0.1:${port}/orders` })
        )
        assert.strictEqual(error._tag, "DatabaseUnreachable")
        if (error._tag !== "DatabaseUnreachable") return
        assert.strictEqual(error.reason, "ConnectionRefused")
        assert.deepInclude(error, { host: "127.0.0.1", port, database: "orders", user: "app" })
        assert.include(
          error.message,
          `Cannot connect to Postgres at 127.0.0.1:${port} (database "orders", user "app")`
        )
        assert.include(error.message, "ECONNREFUSED")
        assert.include(error.message, "check that the server is running")
        assert.notInclude(error.message, "secret")
        assert.isTrue(Duration.lessThan(took, Duration.seconds(2)))
      })
    )

    it.scoped("a server that never answers fails within the connect timeout, never a hang", () =>
      Effect.gen(function* () {
        const port = yield* silentServer
        const [error, took] = yield* elapsed(
          connectFailure({ host: "127.0.0.1", port, connectTimeout: Duration.millis(300) })
        )
        assert.strictEqual(error._tag, "DatabaseUnreachable")
        if (error._tag !== "DatabaseUnreachable") return
        assert.strictEqual(error.reason, "Timeout")
        assert.include(error.message, `127.0.0.1:${port}`)
        assert.include(error.message, "No answer within 300ms")
        assert.isTrue(Duration.lessThan(took, Duration.seconds(3)))
      })
    )

    it.effect("an unparsable URL is InvalidDatabaseUrl, without the password", () =>
      Effect.gen(function* () {
        const error = yield* connectFailure({ url: "postgresql://app:secret@host:notaport/db" })
        assert.strictEqual(error._tag, "InvalidDatabaseUrl")
        assert.notInclude(error.message, "secret")
      })
    )

    it.effect("layerFromEnvOrEmbedded starts an embedded server when DATABASE_URL is unset", () =>
      Effect.gen(function* () {
        const [row] = yield* Effect.flatMap(
          PgClient.PgClient,
          (sql) =>
            sql<{ database: string; applicationName: string }>`
            SELECT current_database() AS database, current_setting('application_name') AS "applicationName"`
        ).pipe(
          Effect.provide(
            PgDatabase.layerFromEnvOrEmbedded({
              database: "orders",
              applicationName: "orders-app",
              embedded: { durable: false }
            })
          ),
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
        )
        assert.deepStrictEqual(row, { database: "orders", applicationName: "orders-app" })
      })
    )
  })
})
