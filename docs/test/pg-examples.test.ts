/**
 * Runs the `@converge/pg` examples against a real Postgres (a fresh database per block, on the
 * server of the global setup) and checks what the page claims. Real Postgres timing, so the live
 * clock throughout; every wait is bounded and nothing sleeps: waits follow a `SubscriptionRef` or
 * poll the server's own activity views.
 */
import * as Net from "node:net"
import { LeaderGate } from "@converge/core"
import { Notifications } from "@converge/pg"
import { TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import {
  ConfigProvider,
  Context,
  Deferred,
  Duration,
  Effect,
  Fiber,
  HashMap,
  Layer,
  Logger,
  LogLevel,
  Option,
  Schedule,
  Stream,
  type SubscriptionRef
} from "effect"
import * as ContentionRetryExample from "../examples/pg-contention-retry.js"
import * as DatabaseExample from "../examples/pg-database.js"
import * as LeaderGateExample from "../examples/pg-leader-gate.js"
import * as MigrationsExample from "../examples/pg-migrations.js"
import * as NotificationsExample from "../examples/pg-notifications.js"
import * as SqlStateExample from "../examples/pg-sql-state.js"

// Building a block's layer creates a database. A test gets more than vitest's default 5 s: its
// bounded waits may take up to 10 s each.
const blockOptions = { excludeTestServices: true, timeout: 60_000 } as const
const testTimeout = 30_000
/** The embedded server's start includes initdb. */
const embeddedStartTimeout = 60_000

const within =
  (seconds: number, what: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.timeoutFail(effect, {
      duration: Duration.seconds(seconds),
      onTimeout: () => `Timed out after ${seconds} s waiting for ${what}`
    })

/** The first value of `ref` (now or later) that satisfies `predicate`. */
const awaitValue = <A>(
  ref: SubscriptionRef.SubscriptionRef<A>,
  predicate: (value: A) => boolean,
  what: string
) => ref.changes.pipe(Stream.filter(predicate), Stream.runHead, Effect.flatten, within(10, what))

/** Polls `query` (on the server's own views) until it returns a row; bounded. */
const awaitRow = <A>(query: Effect.Effect<ReadonlyArray<A>, unknown>, what: string) =>
  query.pipe(
    Effect.filterOrFail(
      (rows) => rows.length > 0,
      () => `not yet: ${what}`
    ),
    Effect.retry(Schedule.spaced("20 millis")),
    within(10, what)
  )

/** Ends the server sessions of this database whose `application_name` is `applicationName`. */
const terminateSessionsOf = (applicationName: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ terminated: boolean }>`
      SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity
      WHERE application_name = ${applicationName} AND datname = current_database()`
    expect(rows.map((row) => row.terminated)).toEqual([true])
  })

/** A port on 127.0.0.1 that nothing listens on (it was free a moment ago). */
const closedPort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

describe("pg-database", () => {
  layer(TestDatabase.layer, blockOptions)("on the test server", (it) => {
    it.effect(
      "uses DATABASE_URL, with the app's settings and the environment's overrides",
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          const environment = new Map([
            ["DATABASE_URL", database.url],
            ["CONVERGE_DB_STATEMENT_TIMEOUT_MS", "5000"]
          ])
          const info = yield* DatabaseExample.program.pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(environment))
          )
          expect(info).toEqual({ database: database.name, applicationName: "orders", statementTimeout: "5s" })
        }),
      testTimeout
    )

    it.effect(
      "starts an embedded Postgres with database orders when DATABASE_URL is not set",
      () =>
        Effect.gen(function* () {
          const info = yield* DatabaseExample.program.pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
          )
          expect(info).toEqual({ database: "orders", applicationName: "orders", statementTimeout: "30s" })
        }),
      embeddedStartTimeout
    )

    it.effect(
      "check-database connects, or says what is wrong without the password",
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          expect(yield* DatabaseExample.checkDatabase(database.url)).toBe(
            `ok: connected to database "${database.name}"`
          )

          const port = yield* closedPort
          const refused = yield* DatabaseExample.checkDatabase(
            `postgresql://app:secret@127.0.0.1:${port}/orders`
          )
          expect(refused).toMatch(
            new RegExp(
              `^ConnectionRefused: Cannot connect to Postgres at 127\\.0\\.0\\.1:${port} \\(database "orders"`
            )
          )
          expect(refused).toContain("check that the server is running")

          const missing = TestDatabase.databaseUrl(yield* TestDatabase.serverUrl, "no_such_database")
          const notFound = yield* DatabaseExample.checkDatabase(missing)
          expect(notFound).toMatch(/^DatabaseNotFound: Cannot connect to Postgres at /)
          expect(notFound).toContain('Database "no_such_database" does not exist')

          const invalid = yield* DatabaseExample.checkDatabase("postgresql://app:secret@db host/orders")
          expect(invalid).toContain("not a valid URL: postgresql://app:***@db host/orders")
          expect(invalid).not.toContain("secret")
        }),
      testTimeout
    )
  })
})

describe("pg-migrations", () => {
  layer(TestDatabase.layer, blockOptions)("on a new database", (it) => {
    it.effect(
      "two replicas migrating at once: one applies both files, the other nothing; a rerun nothing",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const runs = yield* Effect.all([MigrationsExample.migrate, MigrationsExample.migrate], {
            concurrency: 2
          })
          expect([...runs].sort((a, b) => b.length - a.length)).toEqual([
            [
              { id: 1, name: "create_orders" },
              { id: 2, name: "order_status" }
            ],
            []
          ])
          expect(yield* MigrationsExample.migrate).toEqual([])

          const recorded = yield* sql<{ migrationId: number; name: string }>`
          SELECT migration_id AS "migrationId", name FROM converge_migrations_orders ORDER BY migration_id`
          expect(recorded).toEqual([
            { migrationId: 1, name: "create_orders" },
            { migrationId: 2, name: "order_status" }
          ])
          // 0002's check constraint is in place.
          const rejected = yield* Effect.flip(
            sql`INSERT INTO orders (customer, status) VALUES ('ada', 'lost')`
          )
          expect(String(rejected.cause)).toContain("orders_status_check")
        }),
      testTimeout
    )

    it.effect(
      "the app starts on the migrated schema",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`INSERT INTO orders (customer, status) VALUES ('ada', 'new'), ('grace', 'paid'), ('alan', 'new')`
          expect(yield* MigrationsExample.main).toEqual([
            { status: "new", count: 2 },
            { status: "paid", count: 1 }
          ])
        }),
      testTimeout
    )
  })
})

describe("pg-sql-state", () => {
  const WithCustomers = Layer.effectDiscard(SqlStateExample.createCustomers).pipe(
    Layer.provideMerge(TestDatabase.layer)
  )

  layer(WithCustomers, blockOptions)("on the customers table", (it) => {
    it.effect(
      "a second sign-up with one email is EmailTaken; the first customer stays alone",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const id = yield* SqlStateExample.signUp("ada@example.com")
          const again = yield* Effect.flip(SqlStateExample.signUp("ada@example.com"))
          expect(again).toEqual(new SqlStateExample.EmailTaken({ email: "ada@example.com" }))
          expect(yield* sql`SELECT id, email FROM customers`).toEqual([{ id, email: "ada@example.com" }])
        }),
      testTimeout
    )
  })
})

describe("pg-contention-retry", () => {
  const WithAccounts = Layer.effectDiscard(ContentionRetryExample.createAccounts).pipe(
    Layer.provideMerge(TestDatabase.layer)
  )

  const balances = Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ id: string; balance: number }>`SELECT id, balance FROM accounts ORDER BY id`
  )

  /** Runs `effect` with a logger that keeps the SQLSTATE of every "contended; retrying" log. */
  const recordingRetries = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.gen(function* () {
      const retriedCodes: Array<string> = []
      const logger = Logger.make(({ message, annotations }) => {
        if ([message].flat().includes("Transaction contended; retrying")) {
          retriedCodes.push(String(Option.getOrUndefined(HashMap.get(annotations, "code"))))
        }
      })
      const result = yield* effect.pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      return { result, retriedCodes }
    })

  layer(WithAccounts, blockOptions)("on real SERIALIZABLE transactions", (it) => {
    it.effect(
      "a transfer that runs into a concurrent deposit gets 40001, is rerun, and loses nothing",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`INSERT INTO accounts VALUES ('alice', 100), ('bob', 0)`
          // Another session deposits 50 to alice and holds its transaction open.
          const deposited = yield* Deferred.make<void>()
          const commitDeposit = yield* Deferred.make<void>()
          const deposit = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql`UPDATE accounts SET balance = balance + 50 WHERE id = 'alice'`
                yield* Deferred.succeed(deposited, undefined)
                yield* Deferred.await(commitDeposit)
              })
            )
            .pipe(Effect.fork)
          yield* Deferred.await(deposited)

          // The transfer reads alice's 100, then waits on the deposit's row lock to write.
          const transfer = yield* recordingRetries(ContentionRetryExample.transfer("alice", "bob", 30)).pipe(
            Effect.fork
          )
          yield* awaitRow(
            sql`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
            "the transfer to wait on the deposit's row lock"
          )
          yield* Deferred.succeed(commitDeposit, undefined)
          yield* Fiber.join(deposit)

          const { retriedCodes } = yield* Fiber.join(transfer).pipe(within(10, "the transfer"))
          expect(retriedCodes).toEqual(["40001"])
          // Rerun from the first read: 100 + 50 − 30. Computing from the stale 100 would have lost the deposit.
          expect(yield* balances).toEqual([
            { id: "alice", balance: 120 },
            { id: "bob", balance: 30 }
          ])
        }),
      testTimeout
    )

    it.effect(
      "a transfer of more than the balance fails with InsufficientFunds, is not rerun, changes nothing",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* sql`DELETE FROM accounts`
          yield* sql`INSERT INTO accounts VALUES ('carol', 20), ('dan', 0)`
          const { result, retriedCodes } = yield* recordingRetries(
            Effect.flip(ContentionRetryExample.transfer("carol", "dan", 50))
          )
          expect(result).toEqual(
            new ContentionRetryExample.InsufficientFunds({ account: "carol", balance: 20, amount: 50 })
          )
          expect(retriedCodes).toEqual([])
          expect(yield* balances).toEqual([
            { id: "carol", balance: 20 },
            { id: "dan", balance: 0 }
          ])
        }),
      testTimeout
    )
  })
})

describe("pg-leader-gate", () => {
  const WithCharges = Layer.effectDiscard(LeaderGateExample.createCharges).pipe(
    Layer.provideMerge(TestDatabase.layer)
  )

  const awaitLeading = (gate: LeaderGate.LeaderGate.Service, what: string) =>
    awaitValue(gate.isLeader, (leading) => leading, what).pipe(Effect.as(gate))

  /** Waits until replica `name` has finished a lock attempt that started after this call. */
  const awaitLockAttempt = (name: string) =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const [clock] = yield* sql<{ now: string }>`SELECT clock_timestamp()::text AS now`
      yield* awaitRow(
        sql`SELECT pid FROM pg_stat_activity
            WHERE application_name = ${`converge-leader/${name}`} AND datname = current_database()
              AND state = 'idle' AND query LIKE 'select pg_try_advisory_lock%'
              AND query_start > ${clock?.now ?? ""}::timestamptz`,
        `a lock attempt by ${name}`
      )
    })

  layer(WithCharges, blockOptions)("two replicas on one database", (it) => {
    it.scoped(
      "one leads and charges; when its connection is cut the standby leads with a higher term, runs the charge it was waiting with, and the deposed leader's late charge is refused",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const { url } = yield* TestDatabase.TestDatabase
          const replicas = {
            a: yield* LeaderGateExample.startGate(url, "a"),
            b: yield* LeaderGateExample.startGate(url, "b")
          }
          const leaderName = yield* Effect.raceFirst(
            awaitLeading(replicas.a, "a replica to lead").pipe(Effect.as("a" as const)),
            awaitLeading(replicas.b, "a replica to lead").pipe(Effect.as("b" as const))
          )
          const standbyName = leaderName === "a" ? "b" : "a"
          const leader = replicas[leaderName]
          const standby = replicas[standbyName]
          yield* awaitLockAttempt(`billing-${standbyName}`)
          expect(yield* standby.isLeader.get).toBe(false)
          const firstTerm = yield* leader.term
          expect(firstTerm).toBe(1)

          expect(Option.isSome(yield* LeaderGateExample.chargeAsLeader(leader, 1))).toBe(true)
          // The standby's charge waits for leadership.
          const waitingCharge = yield* Effect.fork(LeaderGateExample.chargeAsLeader(standby, 2))

          // The leader's connection is cut: it steps down at once; the standby takes the lock.
          yield* terminateSessionsOf(`converge-leader/billing-${leaderName}`)
          yield* awaitValue(leader.isLeader, (leading) => !leading, "the cut leader to step down")
          yield* awaitLeading(standby, "the standby to lead")
          const secondTerm = yield* standby.term
          expect(secondTerm).toBe(2)
          expect(
            Option.isSome(yield* Fiber.join(waitingCharge).pipe(within(10, "the standby's charge")))
          ).toBe(true)

          // A write the deposed leader had in flight arrives late, with its old term.
          const late = yield* Effect.flip(LeaderGateExample.recordCharge(3, firstTerm))
          expect(late).toMatchObject({ _tag: "StaleTermError", term: 1, currentTerm: 2 })

          expect(yield* sql`SELECT invoice, term FROM charges ORDER BY invoice`).toEqual([
            { invoice: 1, term: 1 },
            { invoice: 2, term: 2 }
          ])
        }),
      testTimeout
    )
  })

  layer(TestDatabase.layer, blockOptions)("a replica on the database of its PgClient", (it) => {
    it.scoped(
      "with DATABASE_URL set, BillingLive elects on that database and leads with term 1",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const { url } = yield* TestDatabase.TestDatabase
          const context = yield* Layer.build(LeaderGateExample.BillingLive).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["DATABASE_URL", url]])))
          )
          const gate = yield* awaitLeading(Context.get(context, LeaderGate.LeaderGate), "the replica to lead")
          expect(yield* gate.term).toBe(1)
          expect(
            yield* sql`SELECT lock_key::int AS "lockKey", term::int AS term FROM converge_leader_terms`
          ).toEqual([{ lockKey: LeaderGateExample.billingLock, term: 1 }])
        }),
      testTimeout
    )

    it.scoped(
      "without DATABASE_URL, BillingLive starts an embedded Postgres and leads on its database billing",
      () =>
        Effect.gen(function* () {
          const context = yield* Layer.build(LeaderGateExample.BillingLive).pipe(
            Effect.withConfigProvider(ConfigProvider.fromMap(new Map()))
          )
          const gate = yield* awaitLeading(Context.get(context, LeaderGate.LeaderGate), "the replica to lead")
          expect(yield* gate.term).toBe(1)
          const appSql = Context.get(context, SqlClient.SqlClient)
          expect(
            yield* appSql`SELECT current_database() AS database, term::int AS term FROM converge_leader_terms`
          ).toEqual([{ database: "billing", term: 1 }])
        }),
      embeddedStartTimeout
    )
  })
})

describe("pg-notifications", () => {
  const WithNotifications = Notifications.layer().pipe(Layer.provideMerge(TestDatabase.layer))

  layer(WithNotifications, blockOptions)("on the orders table", (it) => {
    it.scoped(
      "the cache loads on subscribing, follows notified changes, and after a reconnect resyncs a change it was never told about",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          yield* MigrationsExample.migrate
          yield* sql`INSERT INTO orders (customer) VALUES ('ada'), ('grace')`
          const cache = yield* NotificationsExample.makeOrderCache
          yield* awaitValue(
            cache,
            (orders) => orders.get(1) === "new" && orders.get(2) === "new",
            "the first load"
          )

          yield* NotificationsExample.setStatus(1, "paid")
          yield* awaitValue(cache, (orders) => orders.get(1) === "paid", "order 1 to be paid")

          // A change nobody announces (as good as a notification lost while disconnected)…
          yield* sql`UPDATE orders SET status = 'shipped' WHERE id = 1`
          yield* NotificationsExample.setStatus(2, "paid")
          yield* awaitValue(cache, (orders) => orders.get(2) === "paid", "order 2 to be paid")
          // …is not seen, even once a later notification went through.
          expect((yield* cache.get).get(1)).toBe("paid")

          // The listening connection drops; the stream listens again, and Resubscribed rereads everything.
          yield* terminateSessionsOf("converge-listen")
          yield* awaitValue(cache, (orders) => orders.get(1) === "shipped", "the resync after reconnecting")
        }),
      testTimeout
    )
  })
})
