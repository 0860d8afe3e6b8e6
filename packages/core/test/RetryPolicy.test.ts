import { describe, expect, it } from "@effect/vitest"
import { Data, Duration, Effect, Either, Fiber, Random, Ref, Schema, TestClock } from "effect"
import { Terminal } from "../src/Reconciler.js"
import * as RetryPolicy from "../src/RetryPolicy.js"

class Flaky extends Data.TaggedError("Flaky") {}
class BadRequest extends Data.TaggedError("BadRequest") {}

const samples = 2_000
const seeded = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.withRandom(effect, Random.make("converge"))

/** Draws `samples` jittered delays (in ms) for one attempt. */
const drawDelays = (policy: RetryPolicy.RetryPolicy, attempt: number) =>
  Effect.forEach(Array.from({ length: samples }), () =>
    Effect.map(RetryPolicy.sampleDelay(policy, attempt), Duration.toMillis)
  )

describe("RetryPolicy", () => {
  it("grows delays by the multiplier up to the cap (controller preset: 5 ms doubling to 1000 s)", () => {
    const delays = [1, 2, 3, 4, 10, 18, 19, 20, 100].map((attempt) =>
      Duration.toMillis(RetryPolicy.delay(RetryPolicy.controller, attempt))
    )
    expect(delays).toEqual([5, 10, 20, 40, 2_560, 655_360, 1_000_000, 1_000_000, 1_000_000])
  })

  it("has the anchors' figures in its presets", () => {
    const base = (policy: RetryPolicy.RetryPolicy) =>
      [1, 2, 3, 4, 5, 6, 7].map((attempt) => RetryPolicy.baseDelayMillis(policy, attempt))
    expect(base(RetryPolicy.event)).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 120_000, 120_000])
    expect(base(RetryPolicy.connection)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000])
    expect(RetryPolicy.event.maxAttempts).toBe(8)
    expect(RetryPolicy.controller.maxAttempts).toBe(0)
  })

  it.effect("full jitter stays within [d·(1−f), d] and spreads over it (connection preset, 50 %)", () =>
    seeded(
      Effect.gen(function* () {
        for (const attempt of [1, 3, 6, 9]) {
          const planned = RetryPolicy.baseDelayMillis(RetryPolicy.connection, attempt)
          const delays = yield* drawDelays(RetryPolicy.connection, attempt)
          expect(Math.min(...delays)).toBeGreaterThanOrEqual(planned * 0.5)
          expect(Math.max(...delays)).toBeLessThanOrEqual(planned)
          expect(Math.min(...delays)).toBeLessThan(planned * 0.52)
          expect(Math.max(...delays)).toBeGreaterThan(planned * 0.98)
        }
      })
    )
  )

  it.effect("plus jitter stays within [d, d·(1+f)] and spreads over it (event preset, +0–25 %)", () =>
    seeded(
      Effect.gen(function* () {
        for (const attempt of [1, 4, 7]) {
          const planned = RetryPolicy.baseDelayMillis(RetryPolicy.event, attempt)
          const delays = yield* drawDelays(RetryPolicy.event, attempt)
          expect(Math.min(...delays)).toBeGreaterThanOrEqual(planned)
          expect(Math.max(...delays)).toBeLessThanOrEqual(planned * 1.25)
          expect(Math.min(...delays)).toBeLessThan(planned * 1.01)
          expect(Math.max(...delays)).toBeGreaterThan(planned * 1.24)
        }
      })
    )
  )

  it.effect("draws jitter from Effect's Random, so a seed reproduces the delays", () =>
    Effect.gen(function* () {
      const first = yield* seeded(drawDelays(RetryPolicy.connection, 2))
      const second = yield* seeded(drawDelays(RetryPolicy.connection, 2))
      expect(second).toEqual(first)
      expect(new Set(first).size).toBeGreaterThan(samples / 2)
    })
  )

  it("classifies Terminal and nonRetryable tags as terminal, anything else as retryable", () => {
    const policy = new RetryPolicy.RetryPolicy({ ...RetryPolicy.controller, nonRetryable: ["BadRequest"] })
    expect(RetryPolicy.isRetryable(policy, new Flaky())).toBe(true)
    expect(RetryPolicy.isRetryable(policy, new Error("boom"))).toBe(true)
    expect(RetryPolicy.isRetryable(policy, "plain string")).toBe(true)
    expect(RetryPolicy.isRetryable(policy, new BadRequest())).toBe(false)
    expect(RetryPolicy.isRetryable(policy, new Terminal({ message: "gone" }))).toBe(false)
  })

  describe("toSchedule", () => {
    const countingFailure = <E>(runs: Ref.Ref<number>, error: E) =>
      Effect.zipRight(
        Ref.update(runs, (n) => n + 1),
        Effect.fail(error)
      )

    it.effect("waits each policy delay between runs, never a tick earlier", () =>
      Effect.gen(function* () {
        const policy = new RetryPolicy.RetryPolicy({
          ...RetryPolicy.controller,
          initialDelayMs: 100,
          maxAttempts: 4
        })
        const runs = yield* Ref.make(0)
        const fiber = yield* Effect.fork(
          Effect.retry(countingFailure(runs, new Flaky()), RetryPolicy.toSchedule(policy))
        )
        yield* TestClock.adjust(0)
        expect(yield* Ref.get(runs)).toBe(1)
        for (const [wait, expectedRuns] of [
          [100, 2],
          [200, 3],
          [400, 4]
        ] as const) {
          yield* TestClock.adjust(wait - 1)
          expect(yield* Ref.get(runs)).toBe(expectedRuns - 1)
          yield* TestClock.adjust(1)
          expect(yield* Ref.get(runs)).toBe(expectedRuns)
        }
        const result = yield* Effect.either(Fiber.join(fiber))
        expect(result).toEqual(Either.left(new Flaky()))
        yield* TestClock.adjust(Duration.hours(1))
        expect(yield* Ref.get(runs)).toBe(4)
      })
    )

    it.effect("stops at once on a nonRetryable tag or Terminal", () =>
      Effect.gen(function* () {
        const policy = new RetryPolicy.RetryPolicy({
          ...RetryPolicy.controller,
          nonRetryable: ["BadRequest"]
        })
        for (const error of [new BadRequest(), new Terminal({ message: "no" })]) {
          const runs = yield* Ref.make(0)
          const result = yield* Effect.either(
            Effect.retry(countingFailure(runs, error), RetryPolicy.toSchedule(policy))
          )
          expect(result).toEqual(Either.left(error))
          expect(yield* Ref.get(runs)).toBe(1)
        }
      })
    )

    it.effect("retries until success with jittered delays inside the bounds", () =>
      seeded(
        Effect.gen(function* () {
          const runs = yield* Ref.make(0)
          const flakyTwice = Effect.flatMap(
            Ref.updateAndGet(runs, (n) => n + 1),
            (n) => (n <= 2 ? Effect.fail(new Flaky()) : Effect.succeed("connected"))
          )
          const fiber = yield* Effect.fork(
            Effect.retry(flakyTwice, RetryPolicy.toSchedule(RetryPolicy.connection))
          )
          yield* TestClock.adjust(499)
          expect(yield* Ref.get(runs)).toBe(1)
          yield* TestClock.adjust(501)
          expect(yield* Ref.get(runs)).toBe(2)
          yield* TestClock.adjust(2_000)
          expect(yield* Fiber.join(fiber)).toBe("connected")
        })
      )
    )
  })

  describe("Schema", () => {
    it("round-trips through its encoded, JSON-safe form", () => {
      for (const policy of [RetryPolicy.controller, RetryPolicy.event, RetryPolicy.connection]) {
        const encoded = Schema.encodeSync(RetryPolicy.RetryPolicy)(policy)
        const json = JSON.parse(JSON.stringify(encoded))
        const decoded = Schema.decodeUnknownSync(RetryPolicy.RetryPolicy)(json)
        expect(decoded).toBeInstanceOf(RetryPolicy.RetryPolicy)
        expect(Schema.encodeSync(RetryPolicy.RetryPolicy)(decoded)).toEqual(encoded)
        expect(RetryPolicy.delay(decoded, 3, 0.5)).toEqual(RetryPolicy.delay(policy, 3, 0.5))
      }
    })

    it("rejects bad input with a message naming what was wrong", () => {
      const decode = Schema.decodeUnknownEither(RetryPolicy.RetryPolicy)
      const valid = Schema.encodeSync(RetryPolicy.RetryPolicy)(RetryPolicy.event)
      const message = (input: unknown) =>
        Either.match(decode(input), { onLeft: (error) => error.message, onRight: () => "decoded" })
      expect(message({ ...valid, maxDelayMs: 1 })).toContain("maxDelayMs must be at least initialDelayMs")
      expect(message({ ...valid, jitter: { fraction: 2, mode: "full" } })).toContain("fraction")
      expect(message({ ...valid, jitter: { fraction: 0.5, mode: "sometimes" } })).toContain("mode")
      expect(message({ ...valid, maxAttempts: -1 })).toContain("maxAttempts")
      expect(message(valid)).toBe("decoded")
    })
  })
})
