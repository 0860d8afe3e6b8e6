import { SqlClient } from "@effect/sql"
import { PgClient } from "@effect/sql-pg"
import { assert, layer } from "@effect/vitest"
import { Cause, Duration, Effect, Exit, Queue, Redacted, Stream } from "effect"
import { Notifications } from "../src/index.js"
import * as TcpProxy from "./fixtures/TcpProxy.js"
import * as TestPostgres from "./fixtures/TestPostgres.js"

/** Consumes `listen(channel)` into a queue for the rest of the scope; `next` takes one event, bounded. */
const subscribe = (notifications: Notifications.Notifications.Service, channel: string) =>
  Effect.gen(function* () {
    const events = yield* Queue.unbounded<Notifications.Event>()
    yield* Stream.runForEach(notifications.listen(channel), (event) => Queue.offer(events, event)).pipe(
      Effect.forkScoped
    )
    return {
      next: Queue.take(events).pipe(
        Effect.timeoutFail({
          duration: Duration.seconds(10),
          onTimeout: () => `Timed out waiting for an event on ${channel}`
        })
      )
    }
  })

layer(TestPostgres.layer, { timeout: 60_000, excludeTestServices: true })(
  "Notifications on a real Postgres",
  (it) => {
    it.scoped("delivers a notification after announcing the subscription", () =>
      Effect.gen(function* () {
        const notifications = yield* Notifications.make()
        const channel = 'Orders "Changed"'
        const subscription = yield* subscribe(notifications, channel)
        assert.deepStrictEqual(
          yield* subscription.next,
          new Notifications.Resubscribed({ channel, subscription: 1 })
        )

        yield* notifications.notify(channel, "order 7")
        const received = yield* subscription.next
        assert.isTrue(received._tag === "Notification" && received.channel === channel)
        assert.strictEqual(received._tag === "Notification" ? received.payload : undefined, "order 7")
      })
    )

    it.scoped("a notify inside a rolled-back transaction is never delivered", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const notifications = yield* Notifications.make()
        const subscription = yield* subscribe(notifications, "rollback")
        assert.strictEqual((yield* subscription.next)._tag, "Resubscribed")

        yield* notifications
          .notify("rollback", "rolled back")
          .pipe(Effect.zipRight(Effect.fail("abort")), sql.withTransaction, Effect.flip)
        yield* notifications.notify("rollback", "committed").pipe(sql.withTransaction)
        const received = yield* subscription.next
        assert.strictEqual(received._tag === "Notification" ? received.payload : received._tag, "committed")
      })
    )

    it.scoped(
      "reconnects after its connection is terminated, announces it, and delivers later notifications",
      () =>
        Effect.gen(function* () {
          const notifications = yield* Notifications.make({
            applicationName: "listen-terminated",
            reconnect: TestPostgres.fastReconnect
          })
          const subscription = yield* subscribe(notifications, "jobs")
          assert.deepStrictEqual(
            yield* subscription.next,
            new Notifications.Resubscribed({ channel: "jobs", subscription: 1 })
          )

          yield* TestPostgres.terminateSession("listen-terminated")
          assert.deepStrictEqual(
            yield* subscription.next,
            new Notifications.Resubscribed({ channel: "jobs", subscription: 2 })
          )
          yield* notifications.notify("jobs", "after the reconnect")
          const received = yield* subscription.next
          assert.strictEqual(
            received._tag === "Notification" ? received.payload : received._tag,
            "after the reconnect"
          )
        })
    )

    it.scoped("a silently stalled connection is caught by the watchdog and replaced", () =>
      Effect.gen(function* () {
        const { url } = yield* TestPostgres.TestPostgres
        const proxy = yield* TcpProxy.make(url)
        const throughProxy = yield* Notifications.make({
          watchdogInterval: "100 millis",
          watchdogTimeout: "300 millis",
          reconnect: TestPostgres.fastReconnect
        }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(proxy.url) })))
        const direct = yield* Notifications.make()
        const subscription = yield* subscribe(throughProxy, "stall")
        assert.strictEqual((yield* subscription.next)._tag, "Resubscribed")

        yield* proxy.stall
        assert.deepStrictEqual(
          yield* subscription.next,
          new Notifications.Resubscribed({ channel: "stall", subscription: 2 })
        )
        yield* direct.notify("stall", "after the stall")
        const received = yield* subscription.next
        assert.strictEqual(
          received._tag === "Notification" ? received.payload : received._tag,
          "after the stall"
        )
      })
    )

    it.effect("rejects a channel name Postgres would truncate", () =>
      Effect.gen(function* () {
        const notifications = yield* Notifications.make()
        const exit = yield* Effect.exit(Stream.runDrain(notifications.listen("c".repeat(64))))
        assert.isTrue(Exit.isFailure(exit) && Cause.pretty(exit.cause).includes("1 to 63 bytes"))
      })
    )
  }
)
