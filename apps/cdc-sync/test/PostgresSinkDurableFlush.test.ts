import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { EmbeddedPostgres, PgDatabase } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Option, Schedule, Scope } from "effect"
import * as PostgresSink from "../src/sinks/PostgresSink.js"
import type { DocumentWrite } from "../src/sinks/Sink.js"

/**
 * The sink's writes commit asynchronously; `flush` must make every earlier write durable. A server
 * of its own (durable, with the WAL writer nearly asleep) is crashed right after `flush` the way
 * `pg_ctl stop -m immediate` does it (SIGQUIT to the postmaster: no shutdown checkpoint, no WAL
 * written beyond what was flushed), started again on the same data directory, and must hold every
 * document.
 */
const documents = 3000
const writes: ReadonlyArray<DocumentWrite> = Array.from({ length: documents }, (_, i) => ({
  index: "items",
  id: String(i),
  json: JSON.stringify({ id: i, name: `item ${i}` }),
  lsn: 100n
}))
const settings = { wal_writer_delay: "10s", wal_writer_flush_after: "1GB" }

const onServer = <A, E>(dataDir: string, use: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.scoped(
    Effect.gen(function* () {
      const server = yield* EmbeddedPostgres.make({ dataDir, settings })
      const sql = yield* PgDatabase.make({ url: server.url, poolSize: 2, applicationName: "durable-flush" })
      return yield* Effect.provideService(use, SqlClient.SqlClient, sql)
    })
  )

const crash = (dataDir: string) =>
  Effect.gen(function* () {
    const pidFile = yield* Effect.promise(() => Fs.readFile(Path.join(dataDir, "postmaster.pid"), "utf8"))
    const pid = Number(pidFile.split("\n")[0])
    process.kill(pid, "SIGQUIT")
    yield* postmasterGone(pid)
  })

const temporaryRoot = Effect.acquireRelease(
  Effect.promise(async () => {
    const root = await Fs.mkdtemp(Path.join(Os.tmpdir(), "converge-durable-"))
    // The embedded server may run as another OS user: it must reach its data directory.
    await Fs.chmod(root, 0o777)
    return root
  }),
  (root) => Effect.promise(() => Fs.rm(root, { recursive: true, force: true }))
)

const postmasterGone = (pid: number) =>
  Effect.try(() => process.kill(pid, 0)).pipe(
    Effect.flip,
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("30 seconds")))
  )

describe("PostgresSink flush", () => {
  it.live(
    "after flush, asynchronously committed writes survive an immediate server crash",
    () =>
      Effect.gen(function* () {
        const root = yield* Effect.promise(() => Fs.mkdtemp(Path.join(Os.tmpdir(), "converge-durable-")))
        yield* Effect.promise(() => Fs.chmod(root, 0o777))
        const dataDir = Path.join(root, "data")
        yield* Effect.gen(function* () {
          yield* onServer(
            dataDir,
            Effect.gen(function* () {
              const sql = yield* SqlClient.SqlClient
              const sink = yield* PostgresSink.make({
                name: "search",
                schema: "search",
                textSearchConfig: "simple"
              })
              yield* sink.ensureIndexes([{ name: "items", searchable: ["name"] }])
              yield* sink.write(writes)
              const [written] = yield* sql<{
                readonly lsn: string
              }>`SELECT pg_current_wal_insert_lsn()::text AS lsn`
              yield* sink.flush
              // The flush transaction flushed the WAL of every write before it.
              const [flushed] = yield* sql<{ readonly covered: boolean }>`
                SELECT pg_current_wal_flush_lsn() >= ${written?.lsn ?? "FF/FFFFFFFF"}::pg_lsn AS covered`
              expect(flushed?.covered).toBe(true)
              // Crash at once, as `pg_ctl stop -m immediate` does.
              yield* crash(dataDir)
            })
          )
          // Started again on the same data directory: recovery replays the flushed WAL.
          const survived = yield* onServer(
            dataDir,
            Effect.flatMap(
              SqlClient.SqlClient,
              (sql) =>
                sql<{ readonly count: number; readonly searchable: number }>`
                SELECT count(*)::int AS count,
                       count(*) FILTER (WHERE search @@ to_tsquery('simple', 'item'))::int AS searchable
                FROM search.items WHERE document IS NOT NULL AND source_lsn = '0/64'::pg_lsn`
            )
          )
          expect(survived).toEqual([{ count: documents, searchable: documents }])
        }).pipe(Effect.ensuring(Effect.promise(() => Fs.rm(root, { recursive: true, force: true }))))
      }),
    180_000
  )

  it.live(
    "a server restart between writes and their flush is detected: the flush dies instead of confirming lost writes",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dataDir = Path.join(yield* temporaryRoot, "data")
          const firstRun = yield* Scope.make()
          const server = yield* Scope.extend(EmbeddedPostgres.make({ dataDir, settings }), firstRun)
          // The sink's pool outlives the server run, as a daemon's does: it reconnects to the restarted server.
          const sql = yield* PgDatabase.make({
            url: server.url,
            poolSize: 2,
            applicationName: "durable-flush"
          })
          const sink = yield* Effect.provideService(
            PostgresSink.make({ name: "search", schema: "search", textSearchConfig: "simple" }),
            SqlClient.SqlClient,
            sql
          )
          yield* sink.ensureIndexes([{ name: "items", searchable: ["name"] }])
          yield* sink.write(writes)
          yield* crash(dataDir)
          yield* Scope.close(firstRun, Exit.void)
          yield* EmbeddedPostgres.make({ dataDir, settings, port: server.port })
          const flushed = yield* Effect.exit(
            sink.flush.pipe(Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("30 seconds"))))
          )
          const defect = Exit.isFailure(flushed) ? Cause.dieOption(flushed.cause) : Option.none()
          expect(Option.getOrUndefined(defect)).toBeInstanceOf(PostgresSink.ServerRestartedBeforeFlush)
          // A later write and flush on the new instance are confirmed again.
          yield* sink.write(writes.slice(0, 10))
          yield* sink.flush
        })
      ),
    180_000
  )
})
