/**
 * A `LeaderGate` elected through Postgres: leadership is a session advisory lock held on a
 * dedicated connection, and every acquisition increments a durable term (a fencing token).
 *
 * ```text
 *   connect ──▶ pg_try_advisory_lock(key) every checkInterval ──▶ acquired
 *      ▲                                                              │
 *      │                  term = converge_leader_terms.term + 1 ◀─────┘
 *      │                                   │
 *      │                          isLeader = true ──▶ whileLeader work runs
 *      │                                   │
 *      │   connection error / end event (at once), or the lock missing from pg_locks,
 *      │   or a check unanswered within checkTimeout
 *      │                                   ▼
 *      └── backoff ◀── connection closed ◀── isLeader = false, whileLeader work interrupted
 * ```
 *
 * Postgres releases the lock when the holder's session ends: at once when its process dies (the
 * kernel closes the socket), or when the server's TCP keepalive / user timeout (set on the
 * session, twice `checkInterval + checkTimeout`) gives up on a vanished host. A holder that
 * cannot reach the server steps down after one failed check, before the server would let a
 * standby take over; writes that must never come from a deposed leader carry the term and
 * check it with `assertTerm`.
 */

import { Backoff, LeaderGate, Metrics, RetryPolicy } from "@converge/core"
import type { SqlError } from "@effect/sql"
import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import type { Redacted, Scope } from "effect"
import { Clock, Data, Duration, Effect, Layer, Metric, Ref, Schedule, SubscriptionRef } from "effect"
import type pg from "pg"
import * as ConnectionSettings from "./internal/connectionSettings.js"
import * as DedicatedConnection from "./internal/dedicatedConnection.js"

/** Settings of a gate; only `url` and `lockKey` are required. */
export interface Options extends ClientOptions {
  /** The database to elect on; every gate of one group must use the same database. */
  readonly url: string | Redacted.Redacted<string>
}

/**
 * Settings of a gate that elects on the database of the `PgClient` in context (`makeFromClient`,
 * `layerFromClient`): those of `Options` but `url`; only `lockKey` is required.
 */
export interface ClientOptions {
  /** The advisory lock key (a signed 64-bit integer) that gates of one group share. */
  readonly lockKey: bigint | number
  /**
   * How often a standby tries to take the lock and the leader verifies it still holds it.
   * A standby takes over at most this long after the lock is released. After a reconnect, a gate
   * waits one interval before its first attempt, so standbys that stayed connected go first (a
   * leader whose connection was cut does not grab the lock straight back). Default 1 second.
   */
  readonly checkInterval?: Duration.DurationInput | undefined
  /** A check (or connect) unanswered for this long means the connection is stalled: step down, reconnect. Default 2 seconds. */
  readonly checkTimeout?: Duration.DurationInput | undefined
  /** Labels the `converge_leader` gauge (`controller` tag), the logs and `application_name`. Default: the lock key. */
  readonly name?: string | undefined
  /** Delays between reconnects after a lost or failed connection. Default `RetryPolicy.connection` (1 s → 30 s). */
  readonly reconnect?: RetryPolicy.RetryPolicy | undefined
}

/** The lock key is not a signed 64-bit integer. */
export class InvalidLockKeyError extends Data.TaggedError("InvalidLockKeyError")<{
  readonly lockKey: bigint | number
  readonly message: string
}> {}

/** A write carried a term that is no longer the latest: a newer leader has been elected since (or none ever was). */
export class StaleTermError extends Data.TaggedError("StaleTermError")<{
  readonly lockKey: bigint
  readonly term: number
  /** The latest term of `lockKey`; 0 when no leader has been elected on it yet. */
  readonly currentTerm: number
  readonly message: string
}> {}

/** The table holding the latest term of every lock key, created on first acquisition if missing. */
export const termsTable = "converge_leader_terms"

/**
 * Starts a gate on the database at `options.url`: it connects, waits as a standby until it takes
 * the lock, leads until the lock or the connection is lost, and starts over. It never fails once
 * started (connection problems are logged and retried with backoff). Closing the scope steps down
 * and releases the lock. Its timers run on the real clock, since they pace real I/O.
 */
export const make = (
  options: Options
): Effect.Effect<LeaderGate.LeaderGate.Service, InvalidLockKeyError, Scope.Scope> =>
  start(options, (applicationName) =>
    ConnectionSettings.fromUrl(ConnectionSettings.reveal(options.url), applicationName)
  )

/**
 * Starts a gate as `make` does, on the database of the `PgClient` in context: its dedicated
 * connection reuses the client's connection settings (host, port, database, user, password, TLS),
 * not its pool. For apps whose `PgClient` has no URL to pass on, such as
 * `PgDatabase.layerFromEnvOrEmbedded` on its embedded server.
 */
export const makeFromClient = (
  options: ClientOptions
): Effect.Effect<LeaderGate.LeaderGate.Service, InvalidLockKeyError, Scope.Scope | PgClient.PgClient> =>
  Effect.flatMap(PgClient.PgClient, (client) =>
    start(options, (applicationName) => ConnectionSettings.fromPgClientConfig(client.config, applicationName))
  )

const start = (
  options: ClientOptions,
  connectionConfig: (applicationName: string) => pg.ClientConfig
): Effect.Effect<LeaderGate.LeaderGate.Service, InvalidLockKeyError, Scope.Scope> =>
  Effect.gen(function* () {
    const lockKey = yield* validateLockKey(options.lockKey)
    const checkInterval = Duration.decode(options.checkInterval ?? Duration.seconds(1))
    const checkTimeout = Duration.decode(options.checkTimeout ?? Duration.seconds(2))
    const name = options.name ?? lockKey.toString()
    const key = lockKey.toString()
    const deadClientSeconds = Math.max(
      2,
      Math.ceil((2 * Duration.toMillis(Duration.sum(checkInterval, checkTimeout))) / 1000)
    )
    const keepAliveIdleSeconds = Math.ceil(deadClientSeconds / 2)
    const connectionOptions: DedicatedConnection.Options = {
      config: connectionConfig(`converge-leader/${name}`),
      connectTimeout: checkTimeout,
      keepAliveIdle: Duration.seconds(keepAliveIdleSeconds)
    }
    const isLeader = yield* SubscriptionRef.make(false)
    const term = yield* Ref.make(0)
    const reconnecting = yield* Ref.make(false)
    const leaderGauge = Metrics.leader.pipe(Metric.tagged("controller", name))
    const backoff = yield* Backoff.make({ policy: options.reconnect ?? RetryPolicy.connection })
    yield* Metric.set(leaderGauge, 0)

    const ask = (connection: DedicatedConnection.Connection, text: string, what: string) =>
      connection.query(text, [key]).pipe(DedicatedConnection.within(checkTimeout, what))

    // The server gives up on a vanished client (no FIN ever comes) after about deadClientSeconds.
    const configureSession = (connection: DedicatedConnection.Connection) =>
      connection
        .query(
          `select set_config('tcp_keepalives_idle', $1, false), set_config('tcp_keepalives_interval', '1', false),
                  set_config('tcp_keepalives_count', $2, false), set_config('tcp_user_timeout', $3, false)`,
          [
            String(keepAliveIdleSeconds),
            String(deadClientSeconds - keepAliveIdleSeconds),
            String(deadClientSeconds * 1000)
          ]
        )
        .pipe(DedicatedConnection.within(checkTimeout, "configuring the session"))

    const awaitLock = (connection: DedicatedConnection.Connection) =>
      ask(connection, "select pg_try_advisory_lock($1::bigint) as acquired", "pg_try_advisory_lock").pipe(
        Effect.map((rows) => rows[0]?.acquired === true),
        Effect.repeat({ until: (acquired) => acquired, schedule: Schedule.spaced(checkInterval) })
      )

    // Any failure here ends the session, and closing the connection rolls the transaction back.
    // The increment waits for fenced transactions of the previous term (see `assertTerm`), so it
    // gets longer than a check to finish.
    const incrementTerm = (connection: DedicatedConnection.Connection) =>
      Effect.gen(function* () {
        yield* connection.query("begin")
        yield* connection.query(
          `select pg_advisory_xact_lock(hashtext('converge'), hashtext('${termsTable}'))`
        )
        const [table] = yield* connection.query(`select to_regclass('${termsTable}') is not null as present`)
        if (table?.present !== true) {
          yield* connection.query(
            `create table ${termsTable} (lock_key bigint primary key, term bigint not null)`
          )
        }
        const rows = yield* connection.query(
          `insert into ${termsTable} as terms (lock_key, term) values ($1::bigint, 1)
           on conflict (lock_key) do update set term = terms.term + 1
           returning term`,
          [key]
        )
        yield* connection.query("commit")
        return Number(rows[0]?.term)
      }).pipe(
        DedicatedConnection.within(Duration.times(checkTimeout, termWaitChecks), "incrementing the term")
      )

    const verifyLock = (connection: DedicatedConnection.Connection) =>
      ask(
        connection,
        `select exists (
           select 1 from pg_locks
           where locktype = 'advisory' and pid = pg_backend_pid() and granted and objsubid = 1
             and classid = (($1::bigint >> 32) & 4294967295)::oid and objid = ($1::bigint & 4294967295)::oid
         ) as held`,
        "verifying the lock"
      ).pipe(
        Effect.filterOrFail(
          (rows) => rows[0]?.held === true,
          () =>
            new DedicatedConnection.ConnectionError({
              reason: "Lost",
              message: "The advisory lock is no longer held by this session"
            })
        )
      )

    const takeLeadership = (acquiredTerm: number) =>
      Effect.gen(function* () {
        yield* Ref.set(term, acquiredTerm)
        yield* SubscriptionRef.set(isLeader, true)
        yield* Metric.set(leaderGauge, 1)
        yield* Effect.logInfo("Leadership acquired").pipe(Effect.annotateLogs("term", acquiredTerm))
      })

    // Why leadership ended (a lost connection, a missing lock, shutdown) is logged by whoever ended it.
    const stepDown = Effect.gen(function* () {
      yield* SubscriptionRef.set(isLeader, false)
      yield* Metric.set(leaderGauge, 0)
      yield* Effect.logInfo("Leadership ended").pipe(Effect.annotateLogs("term", yield* Ref.get(term)))
    })

    const lead = (connection: DedicatedConnection.Connection) =>
      Effect.gen(function* () {
        yield* configureSession(connection)
        if (yield* Ref.getAndSet(reconnecting, true)) yield* Effect.sleep(checkInterval)
        yield* awaitLock(connection)
        const acquiredTerm = yield* incrementTerm(connection)
        return yield* Effect.acquireUseRelease(
          takeLeadership(acquiredTerm),
          () => Effect.forever(Effect.zipRight(Effect.sleep(checkInterval), verifyLock(connection))),
          () => stepDown
        )
      })

    const session = Effect.scoped(
      Effect.gen(function* () {
        const connection = yield* DedicatedConnection.open(connectionOptions).pipe(
          DedicatedConnection.within(checkTimeout, "connecting")
        )
        yield* backoff.succeeded
        return yield* Effect.raceFirst(lead(connection), connection.lost)
      })
    )

    const elect = session.pipe(
      DedicatedConnection.reconnectForever(backoff, "Leader election session ended; reconnecting"),
      Effect.withClock(Clock.make()),
      Effect.annotateLogs({ leaderGate: name, lockKey: key })
    )
    yield* Effect.forkScoped(elect)
    return LeaderGate.fromRef(isLeader, Ref.get(term))
  })

/** The core `LeaderGate` service, elected through Postgres as `make` describes. */
export const layer = (options: Options): Layer.Layer<LeaderGate.LeaderGate, InvalidLockKeyError> =>
  Layer.scoped(LeaderGate.LeaderGate, make(options))

/** The core `LeaderGate` service, elected on the database of the `PgClient` in context (`makeFromClient`). */
export const layerFromClient = (
  options: ClientOptions
): Layer.Layer<LeaderGate.LeaderGate, InvalidLockKeyError, PgClient.PgClient> =>
  Layer.scoped(LeaderGate.LeaderGate, makeFromClient(options))

/**
 * Fencing for a write: fails with `StaleTermError` unless `term` is still the latest term of
 * `lockKey`. Run it inside the write's transaction: it takes a share lock on the term row, so a new
 * leader's acquisition waits for that transaction to finish, and every later check sees the new term.
 * Keep such transactions short: a new leader waits at most five `checkTimeout`s for them, then
 * gives the lock up and tries again. Before any gate has led on `lockKey` (no row for it, or no
 * `termsTable` at all on a database where no gate ever led) no term is current: every term is
 * stale, with `currentTerm` 0. It only reads, so it needs no `CREATE` privilege.
 */
export const assertTerm = (
  lockKey: bigint | number,
  term: number
): Effect.Effect<void, StaleTermError | InvalidLockKeyError | SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const key = yield* validateLockKey(lockKey)
    const sql = yield* SqlClient.SqlClient
    // Checked first: a query on a missing table would fail and abort the caller's transaction.
    const [table] = yield* sql<{ readonly present: boolean }>`
      select to_regclass(${termsTable}) is not null as present`
    const rows =
      table?.present === true
        ? yield* sql<{ readonly term: string }>`
            select term from ${sql(termsTable)} where lock_key = ${key.toString()}::bigint for share`
        : []
    const latest = rows[0]
    if (latest === undefined) {
      return yield* new StaleTermError({
        lockKey: key,
        term,
        currentTerm: 0,
        message: `Term ${term} of lock ${key} is stale: no leader has been elected on that lock yet`
      })
    }
    const currentTerm = Number(latest.term)
    if (currentTerm !== term) {
      return yield* new StaleTermError({
        lockKey: key,
        term,
        currentTerm,
        message: `Term ${term} of lock ${key} is stale: the current term is ${currentTerm}`
      })
    }
  })

/** How many check timeouts a new leader waits for the previous term's fenced transactions. */
const termWaitChecks = 5

const minLockKey = -(2n ** 63n)
const maxLockKey = 2n ** 63n - 1n

const validateLockKey = (lockKey: bigint | number): Effect.Effect<bigint, InvalidLockKeyError> => {
  if (typeof lockKey === "number" && !Number.isSafeInteger(lockKey)) {
    return Effect.fail(
      new InvalidLockKeyError({
        lockKey,
        message: `The lock key ${lockKey} is not a safe integer: use a bigint`
      })
    )
  }
  const key = BigInt(lockKey)
  return key < minLockKey || key > maxLockKey
    ? Effect.fail(
        new InvalidLockKeyError({
          lockKey,
          message: `The lock key ${key} does not fit in a signed 64-bit integer`
        })
      )
    : Effect.succeed(key)
}
