import { LeaderGate, RetryPolicy } from "@converge/core"
import { SqlClient } from "@effect/sql"
import { assert, layer } from "@effect/vitest"
import { Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Option, Schedule, Stream } from "effect"
import { PgLeaderGate } from "../src/index.js"
import * as LeaderProcess from "./fixtures/LeaderProcess.js"
import * as TcpProxy from "./fixtures/TcpProxy.js"
import * as TestPostgres from "./fixtures/TestPostgres.js"

// Reconnecting quickly, yet not before the standby's next attempt could come.
const slowerReconnect = new RetryPolicy.RetryPolicy({ ...TestPostgres.fastReconnect, initialDelayMs: 50 })

const within =
  (seconds: number, what: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.timeoutFail(effect, {
      duration: Duration.seconds(seconds),
      onTimeout: () => `Timed out after ${seconds} s waiting for ${what}`
    })

const awaitLeading = (gate: LeaderGate.LeaderGate.Service, leading: boolean, what: string) =>
  gate.isLeader.changes.pipe(
    Stream.filter((value) => value === leading),
    Stream.runHead,
    Effect.asVoid,
    within(10, what)
  )

const applicationName = (name: string) => `converge-leader/${name}`

/** Waits until the gate `name` has finished a lock attempt that started after this call. */
const awaitLockAttempt = (name: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [clock] = yield* sql<{ readonly now: string }>`select clock_timestamp()::text as now`
    yield* sql`
      select pid from pg_stat_activity
      where application_name = ${applicationName(name)} and datname = current_database() and state = 'idle'
        and query like 'select pg_try_advisory_lock%' and query_start > ${clock?.now ?? ""}::timestamptz`.pipe(
      Effect.filterOrFail(
        (rows) => rows.length > 0,
        () => "no attempt yet"
      ),
      Effect.retry(Schedule.spaced("20 millis")),
      within(10, `a lock attempt by ${name}`)
    )
  })

layer(TestPostgres.layer, { timeout: 60_000, excludeTestServices: true })(
  "PgLeaderGate on a real Postgres",
  (it) => {
    it.scoped("of two gates on one lock, exactly one leads", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const options = { url, lockKey: 1, checkInterval: "50 millis" } as const
        const first = yield* PgLeaderGate.make({ ...options, name: "pair-first" })
        const second = yield* PgLeaderGate.make({ ...options, name: "pair-second" })
        const leaderName = yield* Effect.raceFirst(
          awaitLeading(first, true, "the first gate to lead").pipe(Effect.as("pair-first")),
          awaitLeading(second, true, "the second gate to lead").pipe(Effect.as("pair-second"))
        )
        const [leader, standby, standbyName] =
          leaderName === "pair-first" ? [first, second, "pair-second"] : [second, first, "pair-first"]
        yield* awaitLockAttempt(standbyName)
        yield* awaitLockAttempt(standbyName)
        assert.isTrue(yield* leader.isLeader.get)
        assert.isFalse(yield* standby.isLeader.get)
        assert.strictEqual(yield* leader.term, 1)
        assert.strictEqual(yield* standby.term, 0)
        assert.deepStrictEqual(yield* leader.whileLeader(Effect.succeed("ran")), Option.some("ran"))
      })
    )

    it.scoped(
      "a leader whose connection is terminated steps down at once; the standby leads with a higher term",
      () =>
        Effect.gen(function* () {
          const { url } = yield* TestPostgres.TestPostgres
          const lockKey = 2
          // The leader checks only every minute: only the connection's end event can explain a prompt step-down.
          const leader = yield* PgLeaderGate.make({
            url,
            lockKey,
            checkInterval: "1 minute",
            name: "terminated"
          })
          yield* awaitLeading(leader, true, "the first gate to lead")
          const standby = yield* PgLeaderGate.make({
            url,
            lockKey,
            checkInterval: "50 millis",
            name: "standby",
            reconnect: TestPostgres.fastReconnect
          })
          yield* awaitLockAttempt("standby")
          const started = yield* Deferred.make<void>()
          const work = yield* Effect.fork(
            leader.whileLeader(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
          )
          yield* Deferred.await(started)
          const leaderTerm = yield* leader.term

          yield* TestPostgres.terminateSession(applicationName("terminated"))
          yield* awaitLeading(leader, false, "the terminated leader to step down")
          assert.deepStrictEqual(
            yield* Fiber.join(work).pipe(within(5, "the leader's work to end")),
            Option.none()
          )
          yield* awaitLeading(standby, true, "the standby to lead")
          const standbyTerm = yield* standby.term
          assert.isAbove(standbyTerm, leaderTerm)

          const stale = yield* Effect.exit(PgLeaderGate.assertTerm(lockKey, leaderTerm))
          assert.isTrue(Exit.isFailure(stale) && String(stale.cause).includes("StaleTermError"))
          yield* PgLeaderGate.assertTerm(lockKey, standbyTerm)
        })
    )

    it.scoped("when the leading process is SIGKILLed, the standby leads", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const lockKey = 3n
        const leaderProcess = yield* LeaderProcess.start(url, lockKey, 100)
        const processTerm = yield* leaderProcess.leading.pipe(within(30, "the child process to lead"))
        const standby = yield* PgLeaderGate.make({
          url,
          lockKey,
          checkInterval: "50 millis",
          name: "survivor"
        })
        yield* awaitLockAttempt("survivor")
        assert.isFalse(yield* standby.isLeader.get)

        yield* leaderProcess.kill
        yield* awaitLeading(standby, true, "the standby to lead after the SIGKILL")
        assert.isAbove(yield* standby.term, processTerm)
      })
    )

    it.scoped(
      "a leader whose connection was cut lets the connected standby take over instead of grabbing the lock back",
      () =>
        Effect.gen(function* () {
          const { url } = yield* TestPostgres.TestPostgres
          const options = {
            url,
            lockKey: 5,
            checkInterval: "300 millis",
            reconnect: slowerReconnect
          } as const
          const cut = yield* PgLeaderGate.make({ ...options, name: "cut" })
          yield* awaitLeading(cut, true, "the first gate to lead")
          const standby = yield* PgLeaderGate.make({ ...options, name: "patient" })
          yield* awaitLockAttempt("patient")

          yield* TestPostgres.terminateSession(applicationName("cut"))
          yield* awaitLeading(standby, true, "the standby to lead")
          yield* awaitLockAttempt("cut")
          assert.isFalse(yield* cut.isLeader.get)
          assert.isTrue(yield* standby.isLeader.get)
        })
    )

    it.scoped("a leader whose connection stalls silently steps down after a check times out", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const proxy = yield* TcpProxy.make(url)
        const leader = yield* PgLeaderGate.make({
          url: proxy.url,
          lockKey: 4,
          checkInterval: "100 millis",
          checkTimeout: "300 millis",
          name: "stalled"
        })
        yield* awaitLeading(leader, true, "the gate to lead")
        const started = yield* Deferred.make<void>()
        const work = yield* Effect.fork(
          leader.whileLeader(Effect.zipRight(Deferred.succeed(started, undefined), Effect.never))
        )
        yield* Deferred.await(started)

        yield* proxy.stall
        yield* awaitLeading(leader, false, "the stalled leader to step down")
        assert.deepStrictEqual(
          yield* Fiber.join(work).pipe(within(5, "the leader's work to end")),
          Option.none()
        )
      })
    )

    it.scoped("gates built from the PgClient in context elect on its database: exactly one leads", () =>
      Effect.gen(function* () {
        const options = { lockKey: 6, checkInterval: "50 millis" } as const
        const first = yield* PgLeaderGate.makeFromClient({ ...options, name: "client-first" })
        const fromLayer = yield* Layer.build(
          PgLeaderGate.layerFromClient({ ...options, name: "client-second" })
        )
        const second = Context.get(fromLayer, LeaderGate.LeaderGate)
        const leaderName = yield* Effect.raceFirst(
          awaitLeading(first, true, "the first gate to lead").pipe(Effect.as("client-first")),
          awaitLeading(second, true, "the second gate to lead").pipe(Effect.as("client-second"))
        )
        const [leader, standby, standbyName] =
          leaderName === "client-first" ? [first, second, "client-second"] : [second, first, "client-first"]
        // Found on this database by application name: the standby competes here, not elsewhere.
        yield* awaitLockAttempt(standbyName)
        yield* awaitLockAttempt(standbyName)
        assert.isTrue(yield* leader.isLeader.get)
        assert.isFalse(yield* standby.isLeader.get)
        assert.strictEqual(yield* leader.term, 1)
        yield* PgLeaderGate.assertTerm(options.lockKey, 1)
      })
    )

    it.scoped("rejects a lock key outside the signed 64-bit range", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const error = yield* Effect.flip(PgLeaderGate.make({ url, lockKey: 2n ** 63n }))
        assert.strictEqual(error._tag, "InvalidLockKeyError")
        assert.include(error.message, "signed 64-bit")
      })
    )
  }
)

layer(TestPostgres.layer, { timeout: 60_000, excludeTestServices: true })(
  "PgLeaderGate.assertTerm on a database where no gate has led",
  (it) => {
    it.scoped("every term is stale until a gate leads on the lock, and the transaction stays usable", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const { url } = yield* TestPostgres.TestPostgres
        const lockKey = 8
        const expectNoLeaderYet = (term: number) =>
          Effect.gen(function* () {
            const error = yield* Effect.flip(PgLeaderGate.assertTerm(lockKey, term))
            assert.strictEqual(error._tag, "StaleTermError")
            assert.deepInclude(error, { lockKey: 8n, term, currentTerm: 0 })
            assert.include(error.message, "no leader has been elected")
          })

        const [terms] = yield* sql<{ readonly missing: boolean }>`
          select to_regclass(${PgLeaderGate.termsTable}) is null as missing`
        assert.isTrue(terms?.missing)
        yield* expectNoLeaderYet(0)
        yield* expectNoLeaderYet(1)
        // The check itself did not fail in Postgres: a write that handles the refusal goes on in its transaction.
        const handled = yield* sql.withTransaction(
          PgLeaderGate.assertTerm(lockKey, 1).pipe(
            Effect.as("written"),
            Effect.catchTag("StaleTermError", () =>
              Effect.map(
                sql<{ readonly outcome: string }>`select 'refused' as outcome`,
                (rows) => rows[0]?.outcome
              )
            )
          )
        )
        assert.strictEqual(handled, "refused")

        // A gate leads on another lock: the table exists now, yet no leader was elected on this lock.
        const other = yield* PgLeaderGate.make({ url, lockKey: 9, checkInterval: "50 millis", name: "other" })
        yield* awaitLeading(other, true, "the gate on the other lock to lead")
        yield* expectNoLeaderYet(0)

        const gate = yield* PgLeaderGate.make({ url, lockKey, checkInterval: "50 millis", name: "first" })
        yield* awaitLeading(gate, true, "the gate to lead")
        assert.strictEqual(yield* gate.term, 1)
        yield* PgLeaderGate.assertTerm(lockKey, 1)
        assert.deepInclude(yield* Effect.flip(PgLeaderGate.assertTerm(lockKey, 0)), {
          term: 0,
          currentTerm: 1
        })
      })
    )
  }
)
