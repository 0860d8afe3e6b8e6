/**
 * Replication slots for the benchmarks, and `pg_recvlogical` (pgoutput) as the anchor: the
 * server's own decoder streaming the same slot setup to `/dev/null`, the physical limit of
 * logical decoding on this machine.
 */
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

/**
 * pg_recvlogical streaming `slot` up to `endLsn`: `seconds` runs from its verbose "starting log
 * streaming" line (connected, about to send START_REPLICATION) to its exit, so process start and
 * connection are left out as they are on our side.
 */
export const drainWithRecvlogical = (url: string, slot: string, endLsn: string) =>
  BenchServer.timeTool(
    "pg_recvlogical",
    [...recvlogicalArgs(url, slot, endLsn), "--verbose"],
    /starting log streaming/
  )
