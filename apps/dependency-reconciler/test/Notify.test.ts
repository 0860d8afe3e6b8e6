import { Notifications } from "@converge/pg"
import { expect, layer } from "@effect/vitest"
import { Duration, Effect, Queue, Stream } from "effect"
import * as Completion from "../src/Completion.js"
import * as Schema from "../src/Schema.js"
import { migratedDatabase, stage } from "./helpers.js"

// Real clock: the listener's connection and watchdog run on it; the timeout only bounds a failure.
layer(migratedDatabase, { excludeTestServices: true })("Completion-event trigger against Postgres", (it) => {
  it.scoped("a committed completion NOTIFYs its event id on the channel", () =>
    Effect.gen(function* () {
      const notifications = yield* Notifications.make()
      const received = yield* Queue.unbounded<Notifications.Event>()
      yield* Stream.runForEach(notifications.listen(Schema.notificationChannel), (event) =>
        Queue.offer(received, event)
      ).pipe(Effect.forkScoped)
      const next = Queue.take(received).pipe(
        Effect.timeoutFail({
          duration: Duration.seconds(10),
          onTimeout: () => "no notification within 10 s"
        })
      )
      expect((yield* next)._tag).toBe("Resubscribed")

      const flow = yield* stage([{ name: "a" }], [])
      const eventId = yield* Completion.complete(flow.id("a"), "succeeded")
      const notification = yield* next
      expect(notification._tag === "Notification" ? notification.payload : undefined).toBe(eventId)
    })
  )
})
