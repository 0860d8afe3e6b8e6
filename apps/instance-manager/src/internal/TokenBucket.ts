/**
 * A token bucket on Effect's `Clock` (so `TestClock` drives it): `burst` tokens at most, refilled
 * at `perSecond`. `take` reserves a token and waits until it is due, first come first served;
 * `tryTake` takes one only if available and otherwise says how long until one is.
 */
import { Clock, Duration, Effect } from "effect"

/** A clock-driven token bucket. */
export interface TokenBucket {
  /** Reserves one token and sleeps until it is due; returns how long it waited. */
  readonly take: Effect.Effect<Duration.Duration>
  /** Takes one token if one is available now; otherwise returns the wait until one will be. */
  readonly tryTake: Effect.Effect<
    { readonly taken: true } | { readonly taken: false; readonly retryAfter: Duration.Duration }
  >
}

/** Makes a full bucket. */
export const make = (options: {
  readonly burst: number
  readonly perSecond: number
}): Effect.Effect<TokenBucket> =>
  Effect.map(Clock.currentTimeMillis, (start) => {
    let tokens = options.burst
    let updatedAt = start
    const refill = (now: number) => {
      tokens = Math.min(options.burst, tokens + ((now - updatedAt) / 1000) * options.perSecond)
      updatedAt = now
    }
    const millisUntilOne = () => Math.ceil(((1 - tokens) / options.perSecond) * 1000)
    return {
      take: Effect.flatMap(Clock.currentTimeMillis, (now) => {
        refill(now)
        tokens -= 1
        // A negative balance is the queue of reservations ahead of this one.
        if (tokens >= 0) return Effect.succeed(Duration.zero)
        const wait = Duration.millis(Math.ceil((-tokens / options.perSecond) * 1000))
        return Effect.as(Effect.sleep(wait), wait)
      }),
      tryTake: Effect.map(Clock.currentTimeMillis, (now) => {
        refill(now)
        if (tokens >= 1) {
          tokens -= 1
          return { taken: true } as const
        }
        return { taken: false, retryAfter: Duration.millis(millisUntilOne()) } as const
      })
    }
  })
