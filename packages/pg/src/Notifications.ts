/**
 * LISTEN / NOTIFY that survives a dropped or stalled connection.
 *
 * ```text
 *   listen(channel) ──▶ own connection ──▶ LISTEN ──▶ Resubscribed ──▶ Notification, Notification, …
 *        ▲                                                  │
 *        │     error / end event on the socket (at once), or the watchdog's
 *        │     `select 1` unanswered within watchdogTimeout (a silent stall)
 *        └──────────────── backoff ◀────────────────────────┘
 * ```
 *
 * Postgres does not queue notifications for a listener that is away: whatever is sent while the
 * stream reconnects is lost. That is why every successful LISTEN (the first one included) emits
 * `Resubscribed`: on it, a consumer rereads the state it follows, then applies notifications as
 * they come. `@effect/sql-pg`'s own `listen` keeps waiting on a dead connection; this one does not.
 */

import { Backoff, RetryPolicy } from "@converge/core"
import type { SqlError } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { Clock, Context, Data, Duration, Effect, Layer, Stream } from "effect"
import pg from "pg"
import * as ConnectionSettings from "./internal/connectionSettings.js"
import * as DedicatedConnection from "./internal/dedicatedConnection.js"

/** A notification received on the channel; `payload` is `""` when none was sent. */
export class Notification extends Data.TaggedClass("Notification")<{
  readonly channel: string
  readonly payload: string
  /** The server process of the session that sent it. */
  readonly senderPid: number
}> {}

/**
 * The stream is listening again (or for the first time): notifications sent before this point
 * may have been missed, so resync now. `subscription` counts LISTENs, from 1.
 */
export class Resubscribed extends Data.TaggedClass("Resubscribed")<{
  readonly channel: string
  readonly subscription: number
}> {}

/** What `listen` emits. */
export type Event = Notification | Resubscribed

/** Settings of the listening connections; every field has a default. */
export interface Options {
  /** How often the watchdog checks that the listening connection still answers. Default 10 seconds. */
  readonly watchdogInterval?: Duration.DurationInput | undefined
  /** A watchdog check, connect or LISTEN unanswered for this long means a stalled connection: reconnect. Default 5 seconds. */
  readonly watchdogTimeout?: Duration.DurationInput | undefined
  /** Delays between reconnects. Default `RetryPolicy.connection` (1 s → 30 s, 50 % jitter). */
  readonly reconnect?: RetryPolicy.RetryPolicy | undefined
  /** `application_name` of the listening connections. Default `converge-listen`. */
  readonly applicationName?: string | undefined
}

/** The Notifications service: resilient `listen` and transactional `notify`. */
export class Notifications extends Context.Tag("@converge/pg/Notifications")<
  Notifications,
  Notifications.Service
>() {}

/** The types of the Notifications service. */
export declare namespace Notifications {
  /** Listening and sending on one database. */
  export interface Service {
    /**
     * Notifications on `channel`, each (re)subscription announced by `Resubscribed`. Each stream
     * holds one connection of its own, reconnects forever with backoff, and never fails; it stops
     * (and closes its connection) when the consumer stops. A channel name must be 1 to 63 bytes
     * (a longer one is a defect: Postgres would truncate it and never deliver).
     */
    readonly listen: (channel: string) => Stream.Stream<Event>
    /**
     * Sends `payload` on `channel` through the `PgClient`. Inside `sql.withTransaction` it is
     * delivered when that transaction commits, and not at all if it rolls back.
     */
    readonly notify: (channel: string, payload: string) => Effect.Effect<void, SqlError.SqlError>
  }
}

/** Builds the service on the database of the `PgClient`, whose connection settings the listeners reuse. */
export const make = (options: Options = {}): Effect.Effect<Notifications.Service, never, PgClient.PgClient> =>
  Effect.gen(function* () {
    const client = yield* PgClient.PgClient
    const watchdogInterval = Duration.decode(options.watchdogInterval ?? Duration.seconds(10))
    const watchdogTimeout = Duration.decode(options.watchdogTimeout ?? Duration.seconds(5))
    const policy = options.reconnect ?? RetryPolicy.connection
    const connectionOptions: DedicatedConnection.Options = {
      config: ConnectionSettings.fromPgClientConfig(
        client.config,
        options.applicationName ?? "converge-listen"
      ),
      connectTimeout: watchdogTimeout,
      keepAliveIdle: watchdogInterval
    }

    const listen = (channel: string): Stream.Stream<Event> =>
      isValidChannel(channel)
        ? subscribe(channel)
        : Stream.dieMessage(
            `Notifications.listen: the channel name must be 1 to ${maxChannelBytes} bytes long, got "${channel}"`
          )

    const subscribe = (channel: string): Stream.Stream<Event> =>
      Stream.asyncPush<Event>(
        (emit) =>
          Effect.gen(function* () {
            const backoff = yield* Backoff.make({ policy })
            let subscriptions = 0
            const session = Effect.scoped(
              Effect.gen(function* () {
                const connection = yield* DedicatedConnection.open(connectionOptions).pipe(
                  DedicatedConnection.within(watchdogTimeout, "connecting")
                )
                // Notifications that arrive before `Resubscribed` is out wait, so it always comes first.
                const early: Array<Notification> = []
                let announced = false
                yield* connection.onNotification((message) => {
                  if (message.channel !== channel) return
                  const notification = new Notification({
                    channel,
                    payload: message.payload ?? "",
                    senderPid: message.processId
                  })
                  if (announced) emit.single(notification)
                  else early.push(notification)
                })
                yield* connection
                  .query(`listen ${pg.escapeIdentifier(channel)}`)
                  .pipe(DedicatedConnection.within(watchdogTimeout, "LISTEN"))
                yield* backoff.succeeded
                yield* Effect.sync(() => {
                  subscriptions += 1
                  emit.single(new Resubscribed({ channel, subscription: subscriptions }))
                  if (early.length > 0) emit.array(early)
                  announced = true
                })
                const watchdog = Effect.forever(
                  Effect.zipRight(
                    Effect.sleep(watchdogInterval),
                    connection
                      .query("select 1")
                      .pipe(DedicatedConnection.within(watchdogTimeout, "The watchdog's select 1"))
                  )
                )
                return yield* Effect.raceFirst(watchdog, connection.lost)
              })
            )
            yield* session.pipe(
              DedicatedConnection.reconnectForever(backoff, "LISTEN connection failed; reconnecting"),
              Effect.withClock(Clock.make()),
              Effect.annotateLogs("channel", channel),
              Effect.forkScoped
            )
          }),
        { bufferSize: "unbounded" }
      )

    const notify = (channel: string, payload: string) =>
      client`select pg_notify(${channel}, ${payload})`.pipe(Effect.asVoid)

    return { listen, notify }
  })

/** The Notifications service on the database of the `PgClient` in context. */
export const layer = (options: Options = {}): Layer.Layer<Notifications, never, PgClient.PgClient> =>
  Layer.effect(Notifications, make(options))

/** `listen` of the service in context. */
export const listen = (channel: string): Stream.Stream<Event, never, Notifications> =>
  Stream.unwrap(Effect.map(Notifications, (notifications) => notifications.listen(channel)))

/** `notify` of the service in context. */
export const notify = (
  channel: string,
  payload: string
): Effect.Effect<void, SqlError.SqlError, Notifications> =>
  Effect.flatMap(Notifications, (notifications) => notifications.notify(channel, payload))

// Postgres truncates longer identifiers in LISTEN but rejects them in pg_notify: they would never meet.
const maxChannelBytes = 63

const isValidChannel = (channel: string): boolean => {
  const bytes = Buffer.byteLength(channel, "utf8")
  return bytes > 0 && bytes <= maxChannelBytes
}
