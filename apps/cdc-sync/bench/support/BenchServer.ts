/**
 * The Postgres server the cdc-sync benchmarks run on: `CONVERGE_TEST_DATABASE_URL` or
 * `DATABASE_URL` when set, else one embedded Postgres 17 started for the run (durable, as a real
 * source is). Each case gets fresh databases of its own on that one server, so our pipeline and
 * the anchor (`pg_recvlogical`, `COPY` through `psql`) share hardware, settings, WAL and load.
 */
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Os from "node:os"
import { median } from "@converge/bench"
import { EmbeddedPostgres, type PgCopy, PgDatabase } from "@converge/pg"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Data, Effect, type Layer, type Scope } from "effect"

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

/** Starts (or connects to) the server. */
export const make = (): Effect.Effect<BenchServer, EmbeddedPostgres.EmbeddedPostgresError, Scope.Scope> =>
  Effect.gen(function* () {
    const fromEnv = process.env.CONVERGE_TEST_DATABASE_URL ?? process.env.DATABASE_URL
    const source: BenchServer["source"] =
      process.env.CONVERGE_TEST_DATABASE_URL !== undefined
        ? "CONVERGE_TEST_DATABASE_URL"
        : process.env.DATABASE_URL !== undefined
          ? "DATABASE_URL"
          : "embedded"
    const serverUrl =
      fromEnv ??
      (yield* EmbeddedPostgres.make({
        settings: { max_connections: 100, max_replication_slots: 20, max_wal_senders: 20 }
      })).url
    const admin = (statement: string) =>
      Effect.scoped(
        Effect.flatMap(
          PgDatabase.make({ url: serverUrl, poolSize: 1, applicationName: "converge-bench" }),
          (client) => client.unsafe(statement)
        )
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
): Layer.Layer<PgClient.PgClient | SqlClient.SqlClient | PgCopy.PgCopy, PgDatabase.ConnectError> =>
  PgDatabase.layer({ url, poolSize, applicationName: "converge-bench" })

/** What the machine and server look like right now: context for results on a shared machine. */
export interface Probe {
  /** Median milliseconds of a `SELECT 1` round trip. */
  readonly selectOneMillis: number
  /** The server's version. */
  readonly serverVersion: string
  /** The 1-minute load average and the core count of the machine. */
  readonly loadAverage: number
  readonly cores: number
}

/** Measures `Probe` with the `SqlClient` in context. */
export const probe: Effect.Effect<Probe, SqlError.SqlError, SqlClient.SqlClient> = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const millis: Array<number> = []
  for (let index = 0; index < 30; index++) {
    const started = performance.now()
    yield* sql`SELECT 1`
    millis.push(performance.now() - started)
  }
  const [version] = yield* sql<{
    readonly version: string
  }>`SELECT current_setting('server_version') AS version`
  return {
    selectOneMillis: median(millis),
    serverVersion: version?.version ?? "unknown",
    loadAverage: Os.loadavg()[0] ?? 0,
    cores: Os.cpus().length
  }
})

/** The first line `command --version` prints (e.g. `pg_recvlogical (PostgreSQL) 15.18`). */
export const toolVersion = (command: string): string => {
  const run = ChildProcess.spawnSync(command, ["--version"], { encoding: "utf8" })
  if (run.error !== undefined) return `${command}: not found on PATH (${run.error.message})`
  return run.stdout.trim().split("\n")[0] ?? command
}

/** The process failed or could not start. */
export class ToolFailed extends Data.TaggedError("ToolFailed")<{ readonly message: string }> {}

/** How long a tool ran. */
export interface Timed {
  /** From spawn to exit, as this process saw it. */
  readonly wallSeconds: number
  /** From just before `exec` to just after exit, as a shell around the tool measured it (no event-loop delay). */
  readonly seconds: number
}

// Times the command inside the child, so a busy machine delaying this process's event loop does not shorten or stretch it.
const timingShell =
  'started=$(date +%s%N); "$@"; code=$?; ended=$(date +%s%N); echo "elapsed_ns=$((ended - started))" >&2; exit $code'

/** Runs `command` with `args` to completion (stdout discarded) and times it. */
export const timeTool = (command: string, args: ReadonlyArray<string>): Effect.Effect<Timed, ToolFailed> =>
  Effect.async<Timed, ToolFailed>((resume) => {
    const spawned = performance.now()
    const child = ChildProcess.spawn("sh", ["-c", timingShell, "sh", command, ...args], {
      stdio: ["ignore", "ignore", "pipe"]
    })
    let stderr = ""
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
    })
    child.on("error", (error) =>
      resume(Effect.fail(new ToolFailed({ message: `${command}: ${error.message}` })))
    )
    child.on("exit", (code, signal) => {
      const wallSeconds = (performance.now() - spawned) / 1000
      const elapsed = /elapsed_ns=(\d+)/.exec(stderr)?.[1]
      resume(
        code === 0 && elapsed !== undefined
          ? Effect.succeed({ wallSeconds, seconds: Number(elapsed) / 1e9 })
          : Effect.fail(
              new ToolFailed({ message: `${command} exited with ${code ?? signal}: ${stderr.trim()}` })
            )
      )
    })
    return Effect.sync(() => {
      child.kill("SIGKILL")
    })
  })
