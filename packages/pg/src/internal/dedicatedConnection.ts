/**
 * One connection of its own, outside any pool, that notices its loss at once: the socket's
 * `error` / `end` events complete `lost` without waiting for the next query. TCP keepalive is
 * on. Closing the scope closes the connection (bounded: a dead peer cannot hold it up).
 * `PgLeaderGate` and `Notifications` run their sessions on it inside `reconnectForever`.
 */
import type { Backoff } from "@converge/core"
import type { Scope } from "effect"
import { Data, Deferred, Duration, Effect } from "effect"
import pg from "pg"
import * as ConnectionSettings from "./connectionSettings.js"
import { errorText } from "./errorText.js"

/** Why a dedicated connection could not be used. */
export class ConnectionError extends Data.TaggedError("ConnectionError")<{
  readonly reason: "ConnectFailed" | "QueryFailed" | "Timeout" | "Lost"
  readonly message: string
  readonly cause?: unknown
}> {}

/** A row as node-postgres returns it: column name to value (`bigint` columns arrive as strings). */
export type Row = Readonly<Record<string, unknown>>

/** How to connect. */
export interface Options {
  readonly config: pg.ClientConfig
  /** Connecting (TCP, TLS and authentication) must finish within this. */
  readonly connectTimeout: Duration.Duration
  /** Idle time before the client's TCP keepalive probes start. */
  readonly keepAliveIdle: Duration.Duration
}

/** An open connection. */
export interface Connection {
  /** Runs `text` and returns its rows; without `values` it goes by the simple protocol, so it may hold several statements. */
  readonly query: (
    text: string,
    values?: ReadonlyArray<unknown>
  ) => Effect.Effect<ReadonlyArray<Row>, ConnectionError>
  /** Fails as soon as the connection errors or closes; never succeeds. */
  readonly lost: Effect.Effect<never, ConnectionError>
  /** Calls `listener` for every notification this connection receives, until the scope closes. */
  readonly onNotification: (
    listener: (message: pg.Notification) => void
  ) => Effect.Effect<void, never, Scope.Scope>
}

const closeTimeout = Duration.seconds(2)

/** Opens a connection, closed when the scope closes. */
export const open = (options: Options): Effect.Effect<Connection, ConnectionError, Scope.Scope> =>
  Effect.gen(function* () {
    const lost = yield* Deferred.make<never, ConnectionError>()
    const markLost = (message: string, cause?: unknown) =>
      Deferred.unsafeDone(lost, Effect.fail(new ConnectionError({ reason: "Lost", message, cause })))
    const client = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const client = new pg.Client({
          ...options.config,
          ...ConnectionSettings.tcpKeepAlive(options.keepAliveIdle),
          connectionTimeoutMillis: Duration.toMillis(options.connectTimeout)
        })
        client.on("error", (error) => markLost(`Connection lost: ${error.message}`, error))
        client.on("end", () => markLost("Connection closed"))
        return client
      }),
      (client) => Effect.tryPromise(() => client.end()).pipe(Effect.timeout(closeTimeout), Effect.ignore)
    )
    yield* Effect.tryPromise({
      try: () => client.connect(),
      catch: (cause) =>
        new ConnectionError({
          reason: "ConnectFailed",
          message: `Could not connect to Postgres: ${errorText(cause)}`,
          cause
        })
    })
    const query = (text: string, values?: ReadonlyArray<unknown>) =>
      Effect.tryPromise({
        try: () => (values === undefined ? client.query<Row>(text) : client.query<Row>(text, [...values])),
        catch: (cause) =>
          new ConnectionError({
            reason: "QueryFailed",
            message: `Query failed (${text.split("\n")[0]?.trim()}): ${errorText(cause)}`,
            cause
          })
      }).pipe(Effect.map((result) => result.rows))
    const onNotification = (listener: (message: pg.Notification) => void) =>
      Effect.acquireRelease(
        Effect.sync(() => client.on("notification", listener)),
        () => Effect.sync(() => client.off("notification", listener))
      ).pipe(Effect.asVoid)
    return {
      query,
      lost: Deferred.await(lost),
      onNotification
    }
  })

/**
 * Runs `session` (which opens a connection and uses it until something fails) again and again:
 * after each failure it logs `message` as a warning, with the reason, and waits `backoff.next`.
 */
export const reconnectForever =
  (backoff: Backoff.Backoff, message: string) =>
  <A, R>(session: Effect.Effect<A, ConnectionError, R>): Effect.Effect<never, never, R> =>
    session.pipe(
      Effect.catchAll((error) =>
        Effect.flatMap(backoff.next, (delay) =>
          Effect.logWarning(message).pipe(
            Effect.annotateLogs({ reason: error.message, retryIn: Duration.format(delay) }),
            Effect.zipRight(Effect.sleep(delay))
          )
        )
      ),
      Effect.forever
    )

/** Fails with a `Timeout` `ConnectionError` naming `what` if `effect` takes longer than `timeout`. */
export const within =
  (timeout: Duration.Duration, what: string) =>
  <A, R>(effect: Effect.Effect<A, ConnectionError, R>): Effect.Effect<A, ConnectionError, R> =>
    Effect.timeoutFail(effect, {
      duration: timeout,
      onTimeout: () =>
        new ConnectionError({
          reason: "Timeout",
          message: `${what} got no answer within ${Duration.format(timeout)}: the connection is stalled`
        })
    })
