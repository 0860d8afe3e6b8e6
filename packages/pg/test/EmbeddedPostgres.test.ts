import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Redacted, Schedule, Scope } from "effect"
import { EmbeddedPostgres } from "../src/index.js"

const query = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.flatMap(SqlClient.SqlClient, f).pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
  )

const exists = (path: string) =>
  Effect.promise(() =>
    Fs.access(path).then(
      () => true,
      () => false
    )
  )

const acceptsConnections = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

// mkdtemp makes the directory 0700; as root, the `postgres` OS user must be able to traverse it.
const temporaryParent = Effect.acquireRelease(
  Effect.promise(async () => {
    const directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "converge-pg-test-"))
    await Fs.chmod(directory, 0o755)
    return directory
  }),
  (directory) => Effect.promise(() => Fs.rm(directory, { recursive: true, force: true }))
)

describe("EmbeddedPostgres", () => {
  it.layer(EmbeddedPostgres.layer({ durable: false }), { timeout: 60_000 })("a running server", (it) => {
    it.effect("answers queries with wal_level=logical", () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedPostgres.EmbeddedPostgres
        const rows = yield* query(
          server.url,
          (sql) =>
            sql<{ one: number; walLevel: string; database: string }>`
              select 1 as one, current_setting('wal_level') as "walLevel", current_database() as database`
        )
        assert.deepStrictEqual(rows, [{ one: 1, walLevel: "logical", database: "postgres" }])
        assert.strictEqual(server.url, `postgresql://postgres:postgres@127.0.0.1:${server.port}/postgres`)
      })
    )

    it.effect("creates and drops databases", () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedPostgres.EmbeddedPostgres
        yield* server.createDatabase("created_by_test")
        const inside = yield* query(
          server.databaseUrl("created_by_test"),
          (sql) => sql<{ database: string }>`select current_database() as database`
        )
        assert.deepStrictEqual(inside, [{ database: "created_by_test" }])
        yield* server.dropDatabase("created_by_test")
        const remaining = yield* query(
          server.url,
          (sql) => sql`select 1 from pg_database where datname = 'created_by_test'`
        )
        assert.strictEqual(remaining.length, 0)
      })
    )

    it.effect("fails with PortInUse, naming the port, when the port is taken", () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedPostgres.EmbeddedPostgres
        const error = yield* EmbeddedPostgres.make({ port: server.port, durable: false }).pipe(
          Effect.scoped,
          Effect.flip
        )
        assert.strictEqual(error.reason, "PortInUse")
        assert.include(error.message, `Port ${server.port}`)
        assert.isFalse(yield* exists(error.dataDir), "the failed start's temporary data dir is removed")
      })
    )
  })

  it.effect(
    "keeps the data directory while running and removes it, and closes the port, on stop",
    () =>
      Effect.gen(function* () {
        const scope = yield* Scope.make()
        const server = yield* EmbeddedPostgres.make({ durable: false }).pipe(Scope.extend(scope))
        assert.isTrue(yield* exists(Path.join(server.dataDir, "PG_VERSION")))
        assert.isTrue(yield* acceptsConnections(server.port))
        yield* Scope.close(scope, Exit.void)
        assert.isFalse(yield* exists(server.dataDir))
        assert.isFalse(yield* acceptsConnections(server.port))
      }),
    60_000
  )

  it.scoped(
    "reuses a persistent data directory, keeping its data across restarts",
    () =>
      Effect.gen(function* () {
        const dataDir = Path.join(yield* temporaryParent, "pgdata")
        const first = yield* EmbeddedPostgres.make({ dataDir, durable: false }).pipe(
          Effect.tap((server) =>
            query(
              server.url,
              (sql) => sql`create table kept (value text); insert into kept values ('survived')`
            )
          ),
          Effect.scoped
        )
        assert.strictEqual(first.dataDir, dataDir)
        assert.isTrue(yield* exists(Path.join(dataDir, "PG_VERSION")), "a persistent dir survives stop")
        const rows = yield* EmbeddedPostgres.make({ dataDir, durable: false }).pipe(
          Effect.flatMap((server) =>
            query(server.url, (sql) => sql<{ value: string }>`select value from kept`)
          ),
          Effect.scoped
        )
        assert.deepStrictEqual(rows, [{ value: "survived" }])
      }),
    60_000
  )

  it.scoped(
    "runs the server in its own process group, so a Ctrl-C to the app's group does not reach it",
    () =>
      Effect.gen(function* () {
        const server = yield* EmbeddedPostgres.make({ durable: false })
        const postmasterPid = yield* Effect.promise(() =>
          Fs.readFile(Path.join(server.dataDir, "postmaster.pid"), "utf8")
        ).pipe(Effect.map((content) => Number.parseInt(content.split("\n")[0] ?? "", 10)))
        const serverGroup = yield* processGroupOf(postmasterPid)
        assert.strictEqual(serverGroup, postmasterPid, "the postmaster leads its own process group")
        assert.notStrictEqual(serverGroup, yield* processGroupOf(process.pid))
      }),
    60_000
  )

  it.live(
    "on SIGTERM, the program's own finalizers still reach the database before it stops",
    () =>
      Effect.gen(function* () {
        const program = yield* startProgram("serve")
        const port = Number(new URL(program.started.url).port)
        assert.isTrue(yield* acceptsConnections(port))
        program.child.kill("SIGTERM")
        assert.strictEqual(yield* program.exitCode, 0)
        assert.include(program.lines, "finalizer queried the database")
        assert.isFalse(yield* exists(program.started.dataDir))
        assert.isFalse(yield* acceptsConnections(port))
      }),
    60_000
  )

  it.live(
    "a program that exits without closing the scope does not leave the server running",
    () =>
      Effect.gen(function* () {
        const program = yield* startProgram("exit")
        assert.strictEqual(yield* program.exitCode, 0)
        const port = Number(new URL(program.started.url).port)
        // The server shuts down on its own after the program is gone: poll, bounded.
        yield* acceptsConnections(port).pipe(
          Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: (accepts) => !accepts, times: 200 })
        )
        assert.isFalse(yield* acceptsConnections(port))
        // Nobody closed the scope, so the temporary data dir is left behind: clean it up here.
        yield* Effect.promise(() => Fs.rm(program.started.dataDir, { recursive: true, force: true }))
      }),
    60_000
  )
})

/** The process group of `pid`, as `ps` reports it. */
const processGroupOf = (pid: number) =>
  Effect.async<number>((resume) => {
    ChildProcess.execFile("ps", ["-o", "pgid=", "-p", String(pid)], (error, stdout) =>
      resume(error === null ? Effect.succeed(Number.parseInt(stdout.trim(), 10)) : Effect.die(error))
    )
  })

/** Runs test/fixtures/embedded-program.ts in `mode` and waits for the line describing its server. */
const startProgram = (mode: "serve" | "exit") =>
  Effect.gen(function* () {
    const child = ChildProcess.spawn(
      process.execPath,
      ["--import", "tsx", Path.join(import.meta.dirname, "fixtures", "embedded-program.ts"), mode],
      { stdio: ["ignore", "pipe", "inherit"] }
    )
    const lines: Array<string> = []
    const exitCode = yield* Deferred.make<number | null>()
    const started = yield* Deferred.make<{ url: string; dataDir: string }, string>()
    child.once("exit", (code) => {
      Deferred.unsafeDone(exitCode, Exit.succeed(code))
      Deferred.unsafeDone(started, Exit.fail(`exited early with code ${code}: ${lines.join("\n")}`))
    })
    Readline.createInterface({ input: child.stdout }).on("line", (line) => {
      lines.push(line)
      if (line.startsWith("{")) Deferred.unsafeDone(started, Exit.succeed(JSON.parse(line)))
    })
    return { child, lines, started: yield* Deferred.await(started), exitCode: Deferred.await(exitCode) }
  })
