/**
 * Testing a reconciler against a real Postgres: the run's server comes from the global setup,
 * and this file gets a fresh database of its own, dropped after its last test.
 */
import { Controller, LeaderGate, Outcome } from "@converge/core"
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { expect, it } from "@effect/vitest"
import { Effect } from "effect"

// The code under test (in an app, imported from src/): make the actual row of `id` match the desired one.
const reconcileItem = (id: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [desired] = yield* sql<{ replicas: number }>`SELECT replicas FROM desired WHERE id = ${id}`
    if (desired === undefined) {
      yield* sql`DELETE FROM actual WHERE id = ${id}`
    } else {
      yield* sql`INSERT INTO actual (id, replicas) VALUES (${id}, ${desired.replicas})
                 ON CONFLICT (id) DO UPDATE SET replicas = EXCLUDED.replicas`
    }
    return Outcome.done
  })

it.layer(TestDatabase.layer)("item reconciler", (it) => {
  it.scoped("creates, resizes and deletes rows until actual matches desired", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE desired (id text PRIMARY KEY, replicas int NOT NULL)`
      yield* sql`CREATE TABLE actual (id text PRIMARY KEY, replicas int NOT NULL)`
      yield* sql`INSERT INTO desired VALUES ('a', 1), ('b', 3)`
      yield* sql`INSERT INTO actual VALUES ('b', 1), ('c', 2)`

      const controller = yield* Controller.make({ name: "items", reconcile: reconcileItem, concurrency: 2 })
      yield* controller.enqueueAll(["a", "b", "c"])
      yield* controller.awaitIdle

      const actual = yield* sql`SELECT id, replicas FROM actual ORDER BY id`
      expect(actual).toEqual([
        { id: "a", replicas: 1 },
        { id: "b", replicas: 3 }
      ])
    }).pipe(Effect.provide(LeaderGate.always))
  )
})
