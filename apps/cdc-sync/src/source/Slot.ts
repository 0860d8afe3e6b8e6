/**
 * The logical replication slot: created with pgoutput when missing, before the backfill's
 * snapshot, so every change committed after the slot's consistent point is kept for the sync
 * (no first-run gap). Its `confirmed_flush_lsn` is where streaming resumes; the backfill tags its
 * documents with it so any streamed change (always later) wins over them.
 */
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { Data, Effect } from "effect"
import * as Lsn from "../capture/Lsn.js"

/** The slot is gone or unusable (`wal_status = 'lost'`): it must be recreated and the indexes backfilled again. */
export class SlotLost extends Data.TaggedError("SlotLost")<{
  readonly slot: string
  readonly message: string
}> {}

/** A slot as the server reports it. */
export interface SlotState {
  readonly confirmedLsn: Lsn.Lsn
  readonly walStatus: string | null
}

/** The slot's state, if it exists. */
export const inspect = (
  slot: string
): Effect.Effect<SlotState | undefined, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly confirmed: string | null; readonly walStatus: string | null }>`
      SELECT confirmed_flush_lsn::text AS confirmed, wal_status AS "walStatus"
      FROM pg_replication_slots WHERE slot_name = ${slot}`
    if (row === undefined) return undefined
    return { confirmedLsn: Lsn.parse(row.confirmed ?? "0/0") ?? Lsn.zero, walStatus: row.walStatus }
  })

/** Drops `slot` (after ending the session streaming from it, if any). */
export const drop = (slot: string): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
               WHERE slot_name = ${slot} AND active_pid IS NOT NULL`
    yield* sql`SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ${slot}`
  })

/** What `ensure` found or did. */
export interface Ensured {
  readonly created: boolean
  readonly confirmedLsn: Lsn.Lsn
}

/** Creates `slot` (pgoutput) when missing; a lost slot is `SlotLost`. */
export const ensure = (
  slot: string
): Effect.Effect<Ensured, SlotLost | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const existing = yield* inspect(slot)
    if (existing !== undefined) {
      if (existing.walStatus === "lost") {
        return yield* new SlotLost({
          slot,
          message: `replication slot "${slot}" lost WAL it needed (wal_status = lost); it must be recreated and the indexes backfilled again`
        })
      }
      return { created: false, confirmedLsn: existing.confirmedLsn }
    }
    const [created] = yield* sql<{ readonly lsn: string }>`
      SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot(${slot}, 'pgoutput')`
    return { created: true, confirmedLsn: Lsn.parse(created?.lsn ?? "0/0") ?? Lsn.zero }
  })
