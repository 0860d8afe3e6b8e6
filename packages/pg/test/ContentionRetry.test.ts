import { RetryPolicy } from "@converge/core"
import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { Cause, Context, Deferred, Effect, Layer, Ref } from "effect"
import { ContentionRetry, PgDatabase, SqlState } from "../src/index.js"
import * as TestPostgres from "./fixtures/TestPostgres.js"

const { withContentionRetry } = ContentionRetry

const quickPolicy = (maxAttempts: number) =>
  new RetryPolicy.RetryPolicy({
    initialDelayMs: 1,
    multiplier: 2,
    maxDelayMs: 10,
    maxAttempts,
    jitter: new RetryPolicy.Jitter({ fraction: 0.5, mode: "full" }),
    nonRetryable: []
  })

/** Runs `effect` on a pooled connection of its own, outside the transaction the caller is in. */
const outsideTransaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.mapInputContext(
    effect,
    // Dropping a service R never listed leaves a Context<R>.
    (context: Context.Context<R>) =>
      Context.omit(SqlClient.TransactionConnection)(context) as Context.Context<R>
  )

const counterTable = (sql: SqlClient.SqlClient, table: string) =>
  Effect.gen(function* () {
    yield* sql`CREATE TABLE ${sql(table)} (id int PRIMARY KEY, value int NOT NULL)`
    yield* sql`INSERT INTO ${sql(table)} VALUES (1, 0)`
    return {
      read: Effect.map(
        sql<{ value: number }>`SELECT value FROM ${sql(table)} WHERE id = 1`,
        (rows) => rows[0]?.value ?? Number.NaN
      ),
      write: (value: number) =>
        sql`UPDATE ${sql(table)} SET value = ${value} WHERE id = 1`.pipe(Effect.asVoid)
    }
  })

describe("ContentionRetry", () => {
  // Real Postgres timing: the live clock (no TestClock) throughout, with policies of a few milliseconds.
  layer(TestPostgres.layer, { excludeTestServices: true })("on a real server", (it) => {
    it.effect(
      "two concurrent SERIALIZABLE increments of one row: the loser is retried and no update is lost",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const counter = yield* counterTable(sql, "race_counter")
          const runs = yield* Ref.make<ReadonlyArray<string>>([])
          const readFirst = yield* Deferred.make<void>()
          const readSecond = yield* Deferred.make<void>()
          // Both read before either writes, so the second writer's snapshot is stale: 40001.
          const increment = (name: string, mine: Deferred.Deferred<void>, theirs: Deferred.Deferred<void>) =>
            Effect.gen(function* () {
              yield* Ref.update(runs, (all) => [...all, name])
              const value = yield* counter.read
              yield* Deferred.succeed(mine, undefined)
              yield* Deferred.await(theirs)
              yield* counter.write(value + 1)
            }).pipe(withContentionRetry({ isolationLevel: "serializable", policy: quickPolicy(5) }))
          yield* Effect.all(
            [increment("first", readFirst, readSecond), increment("second", readSecond, readFirst)],
            {
              concurrency: 2
            }
          )
          assert.strictEqual(yield* counter.read, 2)
          const all = yield* Ref.get(runs)
          assert.strictEqual(all.length, 3)
          assert.sameMembers(
            [all.filter((name) => name === "first").length, all.filter((name) => name === "second").length],
            [1, 2]
          )
        })
    )

    it.effect("a serialization failure raised at COMMIT (write skew) is retried too", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE on_call (doctor int PRIMARY KEY, on_call boolean NOT NULL)`
        yield* sql`INSERT INTO on_call VALUES (1, true), (2, true)`
        const read1 = yield* Deferred.make<void>()
        const read2 = yield* Deferred.make<void>()
        const wrote1 = yield* Deferred.make<void>()
        const wrote2 = yield* Deferred.make<void>()
        const committed1 = yield* Deferred.make<void>()
        const completedBodies = yield* Ref.make(0)
        const onCallCount = Effect.map(
          sql<{ count: number }>`SELECT count(*)::int AS count FROM on_call WHERE on_call`,
          (rows) => rows[0]?.count ?? 0
        )
        // A doctor may go off call only if someone else stays on call.
        const goOffCallIf = (count: number, doctor: number) =>
          count >= 2
            ? Effect.asVoid(sql`UPDATE on_call SET on_call = false WHERE doctor = ${doctor}`)
            : Effect.void
        const serializable = withContentionRetry({ isolationLevel: "serializable", policy: quickPolicy(5) })
        // Both read before either writes; the second writes after the first wrote and commits
        // after the first committed, so Postgres can only catch the skew at the second's COMMIT.
        const first = Effect.gen(function* () {
          const count = yield* onCallCount
          yield* Deferred.succeed(read1, undefined)
          yield* Deferred.await(read2)
          yield* goOffCallIf(count, 1)
          yield* Deferred.succeed(wrote1, undefined)
          yield* Deferred.await(wrote2)
        }).pipe(serializable, Effect.zipRight(Deferred.succeed(committed1, undefined)))
        const second = Effect.gen(function* () {
          const count = yield* onCallCount
          yield* Deferred.succeed(read2, undefined)
          yield* Deferred.await(read1)
          yield* Deferred.await(wrote1)
          yield* goOffCallIf(count, 2)
          yield* Deferred.succeed(wrote2, undefined)
          yield* Deferred.await(committed1)
          yield* Ref.update(completedBodies, (n) => n + 1)
        }).pipe(serializable)
        yield* Effect.all([first, second], { concurrency: 2 })
        const onCall = yield* sql<{
          doctor: number
        }>`SELECT doctor FROM on_call WHERE on_call ORDER BY doctor`
        assert.deepStrictEqual(onCall, [{ doctor: 2 }])
        // Both of the second's runs got to the end of their body: the first failed at COMMIT.
        assert.strictEqual(yield* Ref.get(completedBodies), 2)
      })
    )

    it.effect("a permanently contended transaction ends in RetryExhausted saying how many attempts", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const counter = yield* counterTable(sql, "contended_counter")
        const runs = yield* Ref.make(0)
        // Every run reads, then another session commits a write to the row, then this run writes: 40001 each time.
        const error = yield* Effect.gen(function* () {
          yield* Ref.update(runs, (n) => n + 1)
          const value = yield* counter.read
          yield* outsideTransaction(counter.write(value + 100))
          yield* counter.write(value + 1)
        }).pipe(
          withContentionRetry({ isolationLevel: "repeatable read", policy: quickPolicy(3) }),
          Effect.flip
        )
        assert.instanceOf(error, ContentionRetry.RetryExhausted)
        if (!(error instanceof ContentionRetry.RetryExhausted)) return
        assert.strictEqual(error.attempts, 3)
        assert.strictEqual(error.lastError.code, "40001")
        assert.include(error.message, "Gave up after 3 attempts")
        assert.strictEqual(yield* Ref.get(runs), 3)
        assert.strictEqual(yield* counter.read, 300)
      })
    )

    it.effect("other failures are not retried and keep their error", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE unique_names (name text PRIMARY KEY)`
        yield* sql`INSERT INTO unique_names VALUES ('taken')`
        const runs = yield* Ref.make(0)
        const error = yield* Ref.update(runs, (n) => n + 1).pipe(
          Effect.zipRight(sql`INSERT INTO unique_names VALUES ('taken')`),
          withContentionRetry({ policy: quickPolicy(5) }),
          Effect.flip
        )
        assert.strictEqual(yield* Ref.get(runs), 1)
        assert.strictEqual(SqlState.classify(error)._tag, "Conflict")
      })
    )

    it.effect(
      "inside an enclosing transaction it does not retry alone: the outermost reruns the whole transaction",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const counter = yield* counterTable(sql, "nested_counter")
          const outerRuns = yield* Ref.make(0)
          const innerRuns = yield* Ref.make(0)
          const inner = Effect.gen(function* () {
            const run = yield* Ref.updateAndGet(innerRuns, (n) => n + 1)
            const value = yield* counter.read
            if (run === 1) yield* outsideTransaction(counter.write(value + 10))
            yield* counter.write(value + 1)
          }).pipe(withContentionRetry({ policy: quickPolicy(5) }))
          yield* Ref.update(outerRuns, (n) => n + 1).pipe(
            Effect.zipRight(inner),
            withContentionRetry({ isolationLevel: "serializable", policy: quickPolicy(5) })
          )
          assert.strictEqual(yield* Ref.get(outerRuns), 2)
          assert.strictEqual(yield* Ref.get(innerRuns), 2)
          assert.strictEqual(yield* counter.read, 11)
        })
    )

    it.effect("a lost connection is retried only with retryConnectionErrors", () =>
      Effect.gen(function* () {
        const runs = yield* Ref.make(0)
        const dropConnectionOnce = Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const run = yield* Ref.updateAndGet(runs, (n) => n + 1)
          if (run === 1) yield* sql`SELECT pg_terminate_backend(pg_backend_pid())`
          return run
        })
        const withoutOption = yield* dropConnectionOnce.pipe(
          withContentionRetry({ policy: quickPolicy(5) }),
          Effect.sandbox,
          Effect.flip
        )
        assert.strictEqual(yield* Ref.get(runs), 1)
        assert.strictEqual(SqlState.classify(Cause.squash(withoutOption))._tag, "TransientConnection")

        yield* Ref.set(runs, 0)
        const succeededOnRun = yield* dropConnectionOnce.pipe(
          withContentionRetry({ policy: quickPolicy(5), retryConnectionErrors: true })
        )
        assert.isAbove(succeededOnRun, 1)
      }).pipe(
        // A pool of its own, so the shared one never hands out the killed connection.
        Effect.provide(
          Layer.unwrapEffect(
            Effect.map(TestPostgres.TestPostgres, ({ url }) => PgDatabase.layer({ url, poolSize: 1 }))
          )
        )
      )
    )
  })
})
