import { SqlClient } from "@effect/sql"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import { PgDatabase, SqlState } from "../src/index.js"
import * as TestPostgres from "./fixtures/TestPostgres.js"

const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map(SqlState.classify))

describe("SqlState", () => {
  it.layer(TestPostgres.layer)("errors from a real server", (it) => {
    it.effect("a unique violation is a Conflict naming the constraint and table", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE conflict_items (id int PRIMARY KEY)`
        yield* sql`INSERT INTO conflict_items VALUES (1)`
        const error = yield* failureOf(sql`INSERT INTO conflict_items VALUES (1)`)
        assert.strictEqual(error._tag, "Conflict")
        assert.strictEqual(error.code, "23505")
        assert.strictEqual(error.constraint, "conflict_items_pkey")
        assert.strictEqual(error.table, "conflict_items")
        assert.strictEqual(error.detail, "Key (id)=(1) already exists.")
        assert.include(error.message, "duplicate key value violates unique constraint")
        assert.strictEqual(error.cause instanceof Error && error.cause.name, "SqlError")
      })
    )

    it.effect("a NOWAIT lock on a locked row is Contention (55P03)", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE locked_items (id int PRIMARY KEY)`
        yield* sql`INSERT INTO locked_items VALUES (1)`
        const locked = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* sql`SELECT id FROM locked_items WHERE id = 1 FOR UPDATE`.pipe(
          Effect.zipRight(Deferred.succeed(locked, undefined)),
          Effect.zipRight(Deferred.await(release)),
          sql.withTransaction,
          Effect.fork
        )
        yield* Deferred.await(locked)
        const error = yield* failureOf(sql`SELECT id FROM locked_items WHERE id = 1 FOR UPDATE NOWAIT`)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        assert.strictEqual(error._tag, "Contention")
        assert.strictEqual(error.code, "55P03")
        assert.isTrue(SqlState.isContention(error.cause))
      })
    )

    it.effect("a deadlock is Contention (40P01)", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE deadlock_items (id int PRIMARY KEY, n int)`
        yield* sql`INSERT INTO deadlock_items VALUES (1, 0), (2, 0)`
        const firstLocked = yield* Deferred.make<void>()
        const secondLocked = yield* Deferred.make<void>()
        // Each takes one row, then wants the other's: Postgres breaks the cycle by failing one.
        const crossing = (
          mine: number,
          theirs: number,
          locked: Deferred.Deferred<void>,
          other: Deferred.Deferred<void>
        ) =>
          Effect.gen(function* () {
            yield* sql`SET LOCAL deadlock_timeout = '20ms'`
            yield* sql`UPDATE deadlock_items SET n = n + 1 WHERE id = ${mine}`
            yield* Deferred.succeed(locked, undefined)
            yield* Deferred.await(other)
            yield* sql`UPDATE deadlock_items SET n = n + 1 WHERE id = ${theirs}`
          }).pipe(sql.withTransaction, Effect.flip, Effect.option)
        const [first, second] = yield* Effect.all(
          [crossing(1, 2, firstLocked, secondLocked), crossing(2, 1, secondLocked, firstLocked)],
          { concurrency: 2 }
        )
        const failures = [first, second].flatMap((outcome) =>
          outcome._tag === "Some" ? [outcome.value] : []
        )
        assert.strictEqual(failures.length, 1)
        const error = SqlState.classify(failures[0])
        assert.strictEqual(error._tag, "Contention")
        assert.strictEqual(error.code, "40P01")
      })
    )

    it.scoped("a session terminated by the server is a TransientConnection (57P01)", () =>
      Effect.gen(function* () {
        // A pool of its own: the pool may hand the dead connection out once more before it notices.
        const { url } = yield* TestPostgres.TestPostgres
        const sql = yield* PgDatabase.make({ url, poolSize: 1 })
        const error = yield* failureOf(sql`SELECT pg_terminate_backend(pg_backend_pid())`)
        assert.strictEqual(error._tag, "TransientConnection")
        assert.strictEqual(error.code, "57P01")
      })
    )

    it.effect(
      "a refused connection, which never reached a server, is a TransientConnection without a code",
      () =>
        Effect.gen(function* () {
          const unreachable = yield* Effect.flip(
            Effect.scoped(PgDatabase.make({ host: "127.0.0.1", port: 1 }))
          )
          const error = SqlState.classify(unreachable.cause)
          assert.strictEqual(error._tag, "TransientConnection")
          assert.isUndefined(error.code)
          assert.include(error.message, "ECONNREFUSED")
        })
    )

    it.effect("anything else is Other, keeping its SQLSTATE", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const error = yield* failureOf(sql`SELECT * FROM no_such_table`)
        assert.strictEqual(error._tag, "Other")
        assert.strictEqual(error.code, "42P01")
        assert.include(error.message, 'relation "no_such_table" does not exist (SQLSTATE 42P01)')
      })
    )

    it.effect(
      "an error wrapping a SqlError in its cause is classified by the SqlError, and classify is idempotent",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const sqlError = yield* Effect.flip(sql`SELECT 1/0`)
          const wrapped = new Error("order failed", { cause: sqlError })
          const error = SqlState.classify(wrapped)
          assert.strictEqual(error.code, "22012")
          assert.strictEqual(SqlState.classify(error), error)
          assert.strictEqual(SqlState.sqlState(wrapped), "22012")
        })
    )
  })

  it("kindOf sorts the SQLSTATEs that cannot easily be provoked on a live server", () => {
    assert.strictEqual(SqlState.kindOf("40001"), "Contention")
    assert.strictEqual(SqlState.kindOf("23P01"), "Conflict")
    assert.strictEqual(SqlState.kindOf("08006"), "TransientConnection")
    assert.strictEqual(SqlState.kindOf("08001"), "TransientConnection")
    assert.strictEqual(SqlState.kindOf("57P02"), "TransientConnection")
    assert.strictEqual(SqlState.kindOf("57P03"), "TransientConnection")
    assert.strictEqual(SqlState.kindOf("57014"), "Other")
    assert.strictEqual(SqlState.kindOf("23503"), "Other")
  })
})
