import type { LeaderGate } from "@converge/core"
import { type Migrations, PgLeaderGate } from "@converge/pg"
import { TestDatabase } from "@converge/testing"
import type { SqlClient, SqlError } from "@effect/sql"
import type { PgClient } from "@effect/sql-pg"
import { Duration, Effect, Layer, type Scope, Stream } from "effect"
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

/** Starts a real Postgres leader gate on `lockKey` and waits (real time) until it leads. */
export const leadOn = (
  lockKey: number
): Effect.Effect<
  LeaderGate.LeaderGate.Service,
  PgLeaderGate.InvalidLockKeyError,
  Scope.Scope | PgClient.PgClient
> =>
  Effect.gen(function* () {
    const gate = yield* PgLeaderGate.makeFromClient(gateOptions(lockKey))
    yield* gate.isLeader.changes.pipe(
      Stream.filter((leader) => leader),
      Stream.runHead
    )
    return gate
  })
