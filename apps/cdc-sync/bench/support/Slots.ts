/**
 * Replication slots for the benchmarks, and `pg_recvlogical` (pgoutput) as the anchor: the
 * server's own decoder streaming the same slot setup to `/dev/null`, the physical limit of
 * logical decoding on this machine.
 */

import { median } from "@converge/bench"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Effect } from "effect"
import * as BenchServer from "./BenchServer.js"
import { publication } from "./Shapes.js"

/** Creates logical slot `name` with pgoutput. */
export const create = (name: string): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql`SELECT pg_create_logical_replication_slot(${name}, 'pgoutput')`.pipe(Effect.asVoid)
  )

/** The server's current WAL position, as text. */
export const currentLsn: Effect.Effect<string, SqlError.SqlError, SqlClient.SqlClient> = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql<{ readonly lsn: string }>`SELECT pg_current_wal_lsn()::text AS lsn`.pipe(
      Effect.map(([row]) => row?.lsn ?? "0/0")
    )
)

/** The command line that drains `slot` up to `endLsn` with pg_recvlogical, as the anchor runs it. */
export const recvlogicalArgs = (url: string, slot: string, endLsn: string): ReadonlyArray<string> => [
  "--dbname",
  url,
  "--slot",
  slot,
  "--start",
  "--no-loop",
  "--endpos",
  endLsn,
  "--option",
  "proto_version=1",
  "--option",
  `publication_names=${publication}`,
  "--file",
  "/dev/null"
]

/** Seconds for pg_recvlogical to stream `slot` up to `endLsn` (process start and connection included). */
export const drainWithRecvlogical = (url: string, slot: string, endLsn: string) =>
  Effect.map(
    BenchServer.timeTool("pg_recvlogical", recvlogicalArgs(url, slot, endLsn)),
    (timed) => timed.seconds
  )

/**
 * pg_recvlogical's fixed cost (process start, connection, replication start) on this machine now:
 * the median of three runs over an empty slot, subtracted from a drain so that both sides are
 * timed from the start of streaming.
 */
export const recvlogicalStartup = (url: string, slot: string) =>
  Effect.gen(function* () {
    yield* create(slot)
    const seconds: Array<number> = []
    for (let run = 0; run < 3; run++) seconds.push(yield* drainWithRecvlogical(url, slot, yield* currentLsn))
    return median(seconds)
  })
