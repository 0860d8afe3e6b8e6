import type { LeaderGate } from "@converge/core"
import { type Migrations, PgLeaderGate } from "@converge/pg"
import { TestDatabase } from "@converge/testing"
import type { SqlClient, SqlError } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Clock, Duration, Effect, Layer, type Scope, Stream } from "effect"
import * as Schema from "../src/state/Schema.js"

/** A migrated test database for one file. */
export const migratedDatabase: Layer.Layer<
  TestDatabase.TestDatabase | PgClient.PgClient | SqlClient.SqlClient,
  TestDatabase.TestDatabaseError | SqlError.SqlError | Migrations.MigrationFailed
> = Layer.provideMerge(Layer.effectDiscard(Schema.migrate), TestDatabase.layer)

/**
 * Settings of the tests' leader gates: quick checks, and a check timeout long enough that a
 * loaded machine does not make a gate step down by itself (tests cut leadership on purpose).
 */
export const gateOptions = (lockKey: number): PgLeaderGate.ClientOptions => ({
  lockKey,
  checkInterval: Duration.millis(50),
  checkTimeout: Duration.seconds(15)
})

/**
 * A real Postgres leader gate on `lockKey` whose checks run on the real clock. On the test's
 * `TestClock`, a step of simulated time taken while a lock check was in flight (a slow query on a
 * loaded machine) counted against the check's timeout, so the gate stepped down by itself and a
 * new term started in the middle of a test.
 */
export const makeGate = (lockKey: number) =>
  PgLeaderGate.makeFromClient(gateOptions(lockKey)).pipe(Effect.withClock(Clock.make()))

/** Starts a real Postgres leader gate on `lockKey` and waits (real time) until it leads. */
export const leadOn = (
  lockKey: number
): Effect.Effect<
  LeaderGate.LeaderGate.Service,
  PgLeaderGate.InvalidLockKeyError,
  Scope.Scope | PgClient.PgClient
> =>
  Effect.gen(function* () {
    const gate = yield* makeGate(lockKey)
    yield* gate.isLeader.changes.pipe(
      Stream.filter((leader) => leader),
      Stream.runHead
    )
    return gate
  })
