/**
 * The latency anchor: `pg_recvlogical` streaming a `test_decoding` slot (commit timestamps on)
 * beside our daemon, during the same workload. Per decoded row of `table`, the time from its
 * transaction's commit timestamp (decoded from the WAL, on the database clock) to the moment its
 * `COMMIT` line reaches this process (the same machine's clock): how soon any client can hold a
 * change on this server — the physical limit under the end-to-end latency.
 */
import * as ChildProcess from "node:child_process"
import * as Readline from "node:readline"
import { SqlClient } from "@effect/sql"
import { Data, Deferred, Effect } from "effect"

/** Latencies measured so far, one per decoded row of the table, in milliseconds. */
export interface DecodeLatency {
  readonly millis: Effect.Effect<ReadonlyArray<number>>
  /** Waits until the stream delivers: a marker transaction written now has arrived. */
  readonly ready: Effect.Effect<void, RecvlogicalFailed>
}

/** `pg_recvlogical` could not start or stopped. */
export class RecvlogicalFailed extends Data.TaggedError("RecvlogicalFailed")<{ readonly message: string }> {}

/** `2026-11-24 07:59:19.471534+00` (as test_decoding prints it) in epoch milliseconds, fractions kept. */
export const parseTimestamp = (text: string): number | undefined => {
  const match = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2})(?::?(\d{2}))?$/.exec(text)
  if (match === null) return undefined
  const [, date, time, fraction = "", hours, minutes = "00"] = match
  const whole = Date.parse(`${date}T${time}${hours}:${minutes}`)
  return Number.isNaN(whole) ? undefined : whole + Number(`0${fraction}`) * 1000
}

/**
 * Creates slot `slot` (test_decoding) on the database at `url` (the `SqlClient` in context) and
 * streams it with `pg_recvlogical` for the scope's life, timing each transaction's rows of `table`
 * (`schema.name`) from commit to arrival.
 */
export const start = (url: string, slot: string, table: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`SELECT pg_create_logical_replication_slot(${slot}, 'test_decoding')`
    const millis: Array<number> = []
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        ChildProcess.spawn(
          "pg_recvlogical",
          [
            "--dbname",
            url,
            "--slot",
            slot,
            "--start",
            "--file",
            "-",
            "--option",
            "include-timestamp=1",
            "--option",
            "skip-empty-xacts=1"
          ],
          { stdio: ["ignore", "pipe", "inherit"] }
        )
      ),
      (process) => Effect.sync(() => process.kill("SIGTERM"))
    )
    const streaming = yield* Deferred.make<void, RecvlogicalFailed>()
    const failed = (message: string) =>
      Deferred.unsafeDone(
        streaming,
        Effect.fail(new RecvlogicalFailed({ message: `pg_recvlogical: ${message}` }))
      )
    child.on("error", (error) => failed(error.message))
    child.on("exit", (code, signal) => failed(`exited with ${code ?? signal}`))
    const rowPrefix = `table ${table}: `
    let rows = 0
    Readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const arrived = performance.timeOrigin + performance.now()
      if (line.startsWith("BEGIN")) rows = 0
      else if (line.startsWith(rowPrefix)) rows++
      else if (line.startsWith("COMMIT")) {
        Deferred.unsafeDone(streaming, Effect.void)
        const committed = parseTimestamp(/\(at (.+)\)$/.exec(line)?.[1] ?? "")
        if (committed !== undefined) for (let row = 0; row < rows; row++) millis.push(arrived - committed)
      }
    })
    const ready = Effect.zipRight(
      sql`SELECT pg_logical_emit_message(true, 'converge_bench', 'ready')`.pipe(Effect.orDie),
      Deferred.await(streaming)
    )
    return { millis: Effect.sync(() => [...millis]), ready } satisfies DecodeLatency
  })
