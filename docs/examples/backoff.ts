/**
 * A reconnect loop: wait longer after each failed connection, and start again from a short wait
 * once a connection has stayed up for a minute.
 */
import { Backoff } from "@converge/core"
import { Data, Duration, Effect } from "effect"

/** The stream could not be opened, or it dropped. */
export class Disconnected extends Data.TaggedError("Disconnected")<{ readonly reason: string }> {}

/**
 * Connects, serves until the connection drops, and reconnects after the backoff's delay; forever.
 * `connect` opens the connection and serves it: it fails (sooner or later) with `Disconnected`.
 */
export const stayConnected = (connect: (onOpen: Effect.Effect<void>) => Effect.Effect<never, Disconnected>) =>
  Effect.gen(function* () {
    const backoff = yield* Backoff.make({ resetAfter: "60 seconds" }) // RetryPolicy.connection: 1 s → 30 s, 50 % jitter
    const session = connect(backoff.succeeded).pipe(
      Effect.catchAll((error) =>
        Effect.flatMap(backoff.next, (wait) =>
          Effect.zipRight(
            Effect.logWarning(`disconnected (${error.reason}); reconnecting in ${Duration.format(wait)}`),
            Effect.sleep(wait)
          )
        )
      )
    )
    return yield* Effect.forever(session)
  })
