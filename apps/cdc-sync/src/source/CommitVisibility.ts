/**
 * Logical decoding may hand over a transaction before other sessions can see it: the committing
 * backend writes and flushes its commit record (which the walsender can stream at once), and
 * only then leaves the proc array — later still when it waits for a synchronous standby. A
 * document built from the source in that gap misses the transaction's rows: a committed insert
 * would be read as a deleted root. So the live pipeline waits, before building a batch, until no
 * transaction of the batch still holds its transaction-id lock, which a backend releases only
 * after it left the proc array (what `XactLockTableWait` relies on too).
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect, Schedule } from "effect"

/** How many of `xids` are still finishing their commit (holding their transaction-id lock). */
export const finishing = (
  xids: ReadonlyArray<number>
): Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql<{ readonly finishing: number }>`
      SELECT count(DISTINCT transactionid::text)::int AS finishing FROM pg_locks
      WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted
        AND transactionid = ANY(${xids.map(String)}::text[]::xid[])`.pipe(
      Effect.map(([row]) => row?.finishing ?? 0)
    )
  )

/**
 * Waits until every transaction of `xids` is visible to new snapshots; runs `onWait` once with
 * the count still finishing when the first look finds some (nearly always it finds none).
 */
export const awaitVisible = (
  xids: ReadonlyArray<number>,
  onWait: (finishing: number) => Effect.Effect<void>
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    if (xids.length === 0) return
    const first = yield* finishing(xids)
    if (first === 0) return
    yield* onWait(first)
    yield* finishing(xids).pipe(
      Effect.repeat({
        until: (count) => count === 0,
        schedule: Schedule.exponential("1 millis", 2).pipe(Schedule.union(Schedule.spaced("100 millis")))
      })
    )
  })
