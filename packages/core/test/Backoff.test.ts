import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Random, TestClock } from "effect"
import * as Backoff from "../src/Backoff.js"
import * as RetryPolicy from "../src/RetryPolicy.js"

const seeded = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withRandom(effect, Random.make("backoff"))
const nextMillis = (backoff: Backoff.Backoff) => Effect.map(backoff.next, Duration.toMillis)
const plannedMillis = (failure: number) => Math.min(30_000, 1_000 * 2 ** (failure - 1))

describe("Backoff", () => {
  it.effect("waits 1 s doubling to 30 s, each delay jittered down by at most 50 %", () =>
    seeded(
      Effect.gen(function* () {
        const lowest = new Map<number, number>()
        const highest = new Map<number, number>()
        for (let connection = 0; connection < 200; connection++) {
          const backoff = yield* Backoff.make()
          for (let failure = 1; failure <= 8; failure++) {
            const delay = yield* nextMillis(backoff)
            expect(delay).toBeGreaterThanOrEqual(plannedMillis(failure) * 0.5)
            expect(delay).toBeLessThanOrEqual(plannedMillis(failure))
            lowest.set(failure, Math.min(lowest.get(failure) ?? Number.POSITIVE_INFINITY, delay))
            highest.set(failure, Math.max(highest.get(failure) ?? 0, delay))
          }
          expect(yield* backoff.failures).toBe(8)
        }
        for (let failure = 1; failure <= 8; failure++) {
          expect(lowest.get(failure)!).toBeLessThan(plannedMillis(failure) * 0.55)
          expect(highest.get(failure)!).toBeGreaterThan(plannedMillis(failure) * 0.95)
        }
      })
    )
  )

  it.effect("starts over from 1 s when the connection stayed up 60 s", () =>
    seeded(
      Effect.gen(function* () {
        const backoff = yield* Backoff.make()
        for (let failure = 0; failure < 5; failure++) yield* backoff.next
        yield* backoff.succeeded
        yield* TestClock.adjust(Duration.seconds(60))
        const delay = yield* nextMillis(backoff)
        expect(delay).toBeGreaterThanOrEqual(500)
        expect(delay).toBeLessThanOrEqual(1_000)
        expect(yield* backoff.failures).toBe(1)
      })
    )
  )

  it.effect("starts over after exactly 60 s up at a fractional time (after jittered sleeps)", () =>
    seeded(
      Effect.gen(function* () {
        // At this time t, (t + 60 000) − t is 59 999.99999999999 in floating point.
        yield* TestClock.adjust(Duration.millis(33_431.280397))
        const backoff = yield* Backoff.make()
        for (let failure = 0; failure < 5; failure++) yield* backoff.next
        yield* backoff.succeeded
        yield* TestClock.adjust(Duration.seconds(60))
        yield* backoff.next
        expect(yield* backoff.failures).toBe(1)
      })
    )
  )

  it.effect("keeps escalating when the connection drops before 60 s", () =>
    seeded(
      Effect.gen(function* () {
        const backoff = yield* Backoff.make()
        for (let failure = 0; failure < 5; failure++) yield* backoff.next
        yield* backoff.succeeded
        yield* TestClock.adjust(Duration.millis(59_999))
        const delay = yield* nextMillis(backoff)
        expect(delay).toBeGreaterThanOrEqual(plannedMillis(6) * 0.5)
        expect(yield* backoff.failures).toBe(6)
      })
    )
  )

  it.effect("takes its own policy and stable period", () =>
    Effect.gen(function* () {
      const policy = new RetryPolicy.RetryPolicy({
        ...RetryPolicy.connection,
        initialDelayMs: 100,
        multiplier: 3,
        maxDelayMs: 1_000,
        jitter: new RetryPolicy.Jitter({ fraction: 0, mode: "none" })
      })
      const backoff = yield* Backoff.make({ policy, resetAfter: "5 seconds" })
      const delays = [yield* nextMillis(backoff), yield* nextMillis(backoff), yield* nextMillis(backoff)]
      expect([...delays, yield* nextMillis(backoff)]).toEqual([100, 300, 900, 1_000])
      yield* backoff.succeeded
      yield* TestClock.adjust(Duration.seconds(5))
      expect(yield* nextMillis(backoff)).toBe(100)
      yield* backoff.reset
      expect(yield* backoff.failures).toBe(0)
    })
  )
})
