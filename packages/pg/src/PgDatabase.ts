/**
 * The database layer of an app: a `PgClient` (and `SqlClient`) on a connection pool built from
 * `DATABASE_URL` or explicit options, with a pool size, a statement timeout, an application name
 * and a bounded connect timeout. Building the layer checks that the server answers: a server
 * that cannot be reached is a `DatabaseUnreachable` error naming host, port, the reason and what
 * to check, within the connect timeout, never a hang.
 *
 * ```text
 *   layerConfig ─ DATABASE_URL, CONVERGE_DB_* ─┐
 *   layer(options) ────────────────────────────┼─▶ pg pool ─▶ SELECT 1 (≤ connectTimeout) ─▶ PgClient
 *   layerFromEnvOrEmbedded ─ no DATABASE_URL ──┘      (EmbeddedPostgres + its database)
 * ```
 */

import type { ConnectionOptions } from "node:tls"
import * as Reactivity from "@effect/experimental/Reactivity"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { ConfigError, Scope } from "effect"
import { Config, Context, Data, Duration, Effect, Layer, Option, Redacted } from "effect"
import pg from "pg"
import * as EmbeddedPostgres from "./EmbeddedPostgres.js"
import * as ConnectionSettings from "./internal/connectionSettings.js"
import * as PgCopy from "./PgCopy.js"
import * as SqlState from "./SqlState.js"

/** Where and how to connect; every field is optional (the address falls back to node-postgres' defaults). */
export interface Options {
  /** `postgresql://user:password@host:port/database?…`; fields below override its parts. */
  readonly url?: Redacted.Redacted | string | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly user?: string | undefined
  readonly password?: Redacted.Redacted | string | undefined
  readonly ssl?: boolean | ConnectionOptions | undefined
  /** Most connections open at once. Default 10. */
  readonly poolSize?: number | undefined
  /** Postgres cancels any statement running longer (`statement_timeout`). Default: the server's (normally none). */
  readonly statementTimeout?: Duration.DurationInput | undefined
  /** Shown in `pg_stat_activity` and the server's logs. Default `converge`. */
  readonly applicationName?: string | undefined
  /** Bounds connecting (TCP, TLS, authentication) and waiting for a free pooled connection. Default 10 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Maps result column names, e.g. `String.snakeToCamel`. */
  readonly transformResultNames?: ((name: string) => string) | undefined
  /** Maps identifiers in queries, e.g. `String.camelToSnake`. */
  readonly transformQueryNames?: ((name: string) => string) | undefined
}

/** What went wrong while connecting. */
export type UnreachableReason =
  | "ConnectionRefused"
  | "HostNotFound"
  | "Timeout"
  | "AuthenticationFailed"
  | "DatabaseNotFound"
  | "TooManyConnections"
  | "ServerStarting"
  | "Other"

/** The server could not be reached or refused the connection; `message` names host and port and says what to check. */
export class DatabaseUnreachable extends Data.TaggedError("DatabaseUnreachable")<{
  readonly reason: UnreachableReason
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
  readonly message: string
  readonly cause: unknown
}> {}

/** The database URL is not a valid URL (the message shows it without its password). */
export class InvalidDatabaseUrl extends Data.TaggedError("InvalidDatabaseUrl")<{
  readonly message: string
}> {}

/** Why the database layer could not be built. */
export type ConnectError = DatabaseUnreachable | InvalidDatabaseUrl

/** The bulk-load service `layer` provides next to the client (see `PgCopy`). */
export { PgCopy } from "./PgCopy.js"

const defaultPoolSize = 10
const defaultApplicationName = "converge"
const defaultConnectTimeout = Duration.seconds(10)
const keepAliveIdle = Duration.seconds(30)
const closeTimeout = Duration.seconds(5)

/**
 * Connects a pool with `options` and checks, within the connect timeout, that the server
 * answers. Closing the scope closes the pool.
 */
export const make = (options: Options): Effect.Effect<PgClient.PgClient, ConnectError, Scope.Scope> =>
  Effect.map(connect(options), ({ client }) => client)

/** The pool and its checked client. */
const connect = (
  options: Options
): Effect.Effect<{ readonly pool: pg.Pool; readonly client: PgClient.PgClient }, ConnectError, Scope.Scope> =>
  Effect.gen(function* () {
    const { connection, target } = yield* resolveConnection(options)
    const connectTimeout = Duration.decode(options.connectTimeout ?? defaultConnectTimeout)
    // Built here rather than by `PgClient.layer`, which cannot set a statement timeout or TCP keepalive.
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new pg.Pool({
          ...connection,
          ssl: options.ssl,
          application_name: options.applicationName ?? defaultApplicationName,
          max: options.poolSize ?? defaultPoolSize,
          connectionTimeoutMillis: Duration.toMillis(connectTimeout),
          statement_timeout:
            options.statementTimeout === undefined ? undefined : Duration.toMillis(options.statementTimeout),
          ...ConnectionSettings.tcpKeepAlive(keepAliveIdle)
        })
        // An idle connection that dies is dropped by the pool; without a listener Node would crash.
        pool.on("error", () => undefined)
        return pool
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.timeout(closeTimeout), Effect.ignore)
    )
    yield* Effect.tryPromise({
      try: () => pool.query("SELECT 1"),
      catch: (cause) => unreachable(target, cause, connectTimeout)
    }).pipe(
      // pg bounds the connection attempt itself; this also bounds a server that accepts it and then stalls.
      Effect.timeoutFail({
        duration: Duration.sum(connectTimeout, Duration.seconds(1)),
        onTimeout: () => unreachable(target, new Error("no answer to SELECT 1"), connectTimeout)
      })
    )
    const client = yield* PgClient.fromPool({
      acquire: Effect.succeed(pool),
      applicationName: options.applicationName ?? defaultApplicationName,
      transformResultNames: options.transformResultNames,
      transformQueryNames: options.transformQueryNames
    }).pipe(Effect.orDie, Effect.provide(Reactivity.layer))
    return { pool, client }
  })

/**
 * A `PgClient` / `SqlClient` on a pool connected with `options`, checked at build time, and
 * `PgCopy` (bulk `COPY … FROM STDIN`) on the same pool.
 */
export const layer = (
  options: Options
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | PgCopy.PgCopy, ConnectError> =>
  Layer.scopedContext(
    Effect.map(connect(options), ({ pool, client }) =>
      Context.make(PgClient.PgClient, client).pipe(
        Context.add(SqlClient.SqlClient, client),
        Context.add(PgCopy.PgCopy, PgCopy.fromPool(pool))
      )
    )
  )

/** Settings that are not about where to connect, with defaults an app may choose and the environment overrides. */
export type Settings = Pick<
  Options,
  | "poolSize"
  | "statementTimeout"
  | "applicationName"
  | "connectTimeout"
  | "transformResultNames"
  | "transformQueryNames"
>

/**
 * The pool settings from the environment, over `defaults`: `CONVERGE_DB_POOL_SIZE`,
 * `CONVERGE_DB_STATEMENT_TIMEOUT_MS` (0 = none), `CONVERGE_DB_APPLICATION_NAME`,
 * `CONVERGE_DB_CONNECT_TIMEOUT_MS`.
 */
export const settingsConfig = (defaults: Settings = {}): Config.Config<Settings> =>
  Config.all({
    poolSize: Config.option(
      Config.integer("CONVERGE_DB_POOL_SIZE").pipe(
        Config.validate({ message: "Expected a pool size of at least 1", validation: (size) => size >= 1 })
      )
    ),
    statementTimeoutMs: Config.option(
      Config.integer("CONVERGE_DB_STATEMENT_TIMEOUT_MS").pipe(
        Config.validate({ message: "Expected milliseconds, 0 or more", validation: (ms) => ms >= 0 })
      )
    ),
    applicationName: Config.option(Config.nonEmptyString("CONVERGE_DB_APPLICATION_NAME")),
    connectTimeoutMs: Config.option(
      Config.integer("CONVERGE_DB_CONNECT_TIMEOUT_MS").pipe(
        Config.validate({ message: "Expected milliseconds, more than 0", validation: (ms) => ms > 0 })
      )
    )
  }).pipe(
    Config.map(
      (env): Settings => ({
        ...defaults,
        poolSize: Option.getOrElse(env.poolSize, () => defaults.poolSize),
        statementTimeout: Option.match(env.statementTimeoutMs, {
          onNone: () => defaults.statementTimeout,
          onSome: (ms) => (ms === 0 ? undefined : Duration.millis(ms))
        }),
        applicationName: Option.getOrElse(env.applicationName, () => defaults.applicationName),
        connectTimeout: Option.match(env.connectTimeoutMs, {
          onNone: () => defaults.connectTimeout,
          onSome: Duration.millis
        })
      })
    )
  )

/** `DATABASE_URL` plus the settings of `settingsConfig`. */
export const config = (defaults: Settings = {}): Config.Config<Options> =>
  Config.all([Config.redacted("DATABASE_URL"), settingsConfig(defaults)]).pipe(
    Config.map(([url, settings]): Options => ({ ...settings, url }))
  )

/** The database layer from the environment (`config`): `DATABASE_URL` is required. */
export const layerConfig = (
  defaults: Settings = {}
): Layer.Layer<
  PgClient.PgClient | SqlClient.SqlClient | PgCopy.PgCopy,
  ConnectError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(config(defaults), layer))

/** How `layerFromEnvOrEmbedded` starts its embedded server. */
export interface EmbeddedDefault extends Settings {
  /** The database to use on the embedded server, created if missing. Default `converge`. */
  readonly database?: string | undefined
  /** Options of the embedded server, e.g. a persistent `dataDir`. */
  readonly embedded?: EmbeddedPostgres.Options | undefined
}

/**
 * Why `layerFromEnvOrEmbedded` could not be built. A name of its own, so that declaration output
 * can name the type of a layer or program built on it without importing `EmbeddedPostgres`.
 */
export type FromEnvOrEmbeddedError =
  | ConnectError
  | ConfigError.ConfigError
  | EmbeddedPostgres.EmbeddedPostgresError

/**
 * The "embedded default" of apps: `DATABASE_URL` when set (as `layerConfig`), else an
 * `EmbeddedPostgres` server started for as long as the layer lives, with `database` created on
 * it if missing. Pool settings come from the environment over `options` either way.
 */
export const layerFromEnvOrEmbedded = (
  options: EmbeddedDefault = {}
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | PgCopy.PgCopy, FromEnvOrEmbeddedError> => {
  const { database = "converge", embedded, ...defaults } = options
  return Layer.unwrapScoped(
    Effect.gen(function* () {
      const url = yield* Config.option(Config.redacted("DATABASE_URL"))
      const settings = yield* settingsConfig(defaults)
      if (Option.isSome(url)) return layer({ ...settings, url: url.value })
      const server = yield* EmbeddedPostgres.make(embedded)
      yield* ensureDatabase(server, database)
      return layer({ ...settings, url: Redacted.make(server.databaseUrl(database)) })
    })
  )
}

const ensureDatabase = (server: EmbeddedPostgres.Server, name: string): Effect.Effect<void, ConnectError> =>
  Effect.gen(function* () {
    const sql = yield* make({
      url: Redacted.make(server.url),
      poolSize: 1,
      applicationName: "converge-setup"
    })
    const existing = yield* sql`SELECT 1 FROM pg_database WHERE datname = ${name}`.pipe(Effect.orDie)
    if (existing.length === 0) yield* sql`CREATE DATABASE ${sql(name)}`.pipe(Effect.orDie)
  }).pipe(Effect.scoped)

interface Target {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
}

type Connection = Pick<pg.PoolConfig, "connectionString" | "host" | "port" | "database" | "user" | "password">

// node-postgres lets a connection string win over separate fields, so explicit fields are
// written into the URL instead.
const resolveConnection = (
  options: Options
): Effect.Effect<{ readonly connection: Connection; readonly target: Target }, InvalidDatabaseUrl> =>
  Effect.gen(function* () {
    const password = options.password === undefined ? undefined : ConnectionSettings.reveal(options.password)
    if (options.url === undefined) {
      const user = options.user ?? process.env.USER ?? "postgres"
      return {
        connection: {
          host: options.host,
          port: options.port,
          database: options.database,
          user: options.user,
          password
        },
        target: {
          host: options.host ?? "localhost",
          port: options.port ?? 5432,
          database: options.database ?? user,
          user
        }
      }
    }
    const text = ConnectionSettings.reveal(options.url)
    const url = yield* Effect.try({
      try: () => new URL(text),
      catch: () =>
        new InvalidDatabaseUrl({
          message: `The database URL is not a valid URL: ${withoutPassword(text)} (expected postgresql://user:password@host:port/database)`
        })
    })
    if (options.host !== undefined) url.hostname = options.host
    if (options.port !== undefined) url.port = String(options.port)
    if (options.database !== undefined) url.pathname = `/${encodeURIComponent(options.database)}`
    if (options.user !== undefined) url.username = encodeURIComponent(options.user)
    if (password !== undefined) url.password = encodeURIComponent(password)
    const user = url.username !== "" ? decodeURIComponent(url.username) : (process.env.USER ?? "postgres")
    return {
      connection: { connectionString: url.toString() },
      target: {
        host: url.hostname !== "" ? url.hostname : (url.searchParams.get("host") ?? "localhost"),
        port: url.port !== "" ? Number(url.port) : 5432,
        database: url.pathname.length > 1 ? decodeURIComponent(url.pathname.slice(1)) : user,
        user
      }
    }
  })

const withoutPassword = (url: string): string => url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@")

const unreachable = (
  target: Target,
  cause: unknown,
  connectTimeout: Duration.Duration
): DatabaseUnreachable => {
  const { reason, advice } = diagnose(target, cause, connectTimeout)
  const underlying = SqlState.classify(cause).message
  return new DatabaseUnreachable({
    ...target,
    reason,
    message:
      `Cannot connect to Postgres at ${target.host}:${target.port} ` +
      `(database "${target.database}", user "${target.user}"): ${underlying}. ${advice}`,
    cause
  })
}

const diagnose = (
  target: Target,
  cause: unknown,
  connectTimeout: Duration.Duration
): { readonly reason: UnreachableReason; readonly advice: string } => {
  const code = SqlState.sqlState(cause) ?? socketErrorCode(cause)
  const timedOut =
    code === "ETIMEDOUT" || (cause instanceof Error && /timeout|no answer/i.test(cause.message))
  switch (true) {
    case code === "ECONNREFUSED":
      return {
        reason: "ConnectionRefused",
        advice:
          "Nothing accepts connections there: check that the server is running and the host and port are right."
      }
    case code === "ENOTFOUND" || code === "EAI_AGAIN":
      return {
        reason: "HostNotFound",
        advice: `The host name "${target.host}" does not resolve: check the host in the database URL.`
      }
    case timedOut || code === "EHOSTUNREACH" || code === "ENETUNREACH":
      return {
        reason: "Timeout",
        advice: `No answer within ${Duration.format(connectTimeout)}: check the host and port, firewalls and the network, and that the server is not overloaded.`
      }
    case code === "28P01" || code === "28000":
      return {
        reason: "AuthenticationFailed",
        advice: `The server rejected user "${target.user}": check the user name and password, and the server's pg_hba.conf.`
      }
    case code === "3D000":
      return {
        reason: "DatabaseNotFound",
        advice: `Database "${target.database}" does not exist: create it, or check the database name in the URL.`
      }
    case code === "53300":
      return {
        reason: "TooManyConnections",
        advice:
          "The server has no connection slots left: lower the pool sizes of its clients or raise max_connections."
      }
    case code === "57P03":
      return {
        reason: "ServerStarting",
        advice: "The server is starting up or shutting down: try again in a moment."
      }
    default:
      return {
        reason: "Other",
        advice: "Check that the URL points at a Postgres server and, if it requires TLS, the ssl settings."
      }
  }
}

const socketErrorCode = (cause: unknown): string | undefined =>
  cause instanceof Error && "code" in cause && typeof cause.code === "string" ? cause.code : undefined
