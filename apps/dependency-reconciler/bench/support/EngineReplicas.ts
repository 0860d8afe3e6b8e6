/**
 * Our engine as the benchmarks run it: `count` replicas of `Engine.run` (migrations, the
 * LISTEN/NOTIFY push dispatcher, the stale sweeper and the pending poller) on one database, as
 * separate processes would run them. Every replica LISTENs; a NOTIFY wakes each one's pump, which
 * claims pending events with leases (`SKIP LOCKED`), so the replicas split the events; the engine's
 * locks and applied markers make exactly one of them apply each edge whatever happens.
 */
import type { Migrations } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Effect, Schedule, type Scope } from "effect"
import * as Engine from "../../src/Engine.js"

/** Starts `count` replicas for the rest of the scope and returns once each one is LISTENing. */
export const start = (
  count: number,
  pushConcurrency: number
): Effect.Effect<void, Migrations.MigrationFailed, Scope.Scope | SqlClient.SqlClient | PgClient.PgClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    for (let replica = 0; replica < count; replica++) yield* Engine.run({ pushConcurrency })
    yield* sql<{ readonly listening: number }>`
      SELECT count(*)::int AS listening FROM pg_stat_activity
      WHERE datname = current_database() AND query ILIKE 'listen %'`.pipe(
      Effect.filterOrFail((rows) => (rows[0]?.listening ?? 0) >= count),
      Effect.retry(Schedule.spaced("10 millis").pipe(Schedule.upTo("30 seconds"))),
      Effect.orDieWith(() => new Error(`${count} engine replicas did not LISTEN within 30 s`))
    )
  })
