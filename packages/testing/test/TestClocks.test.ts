import { SqlClient } from "@effect/sql"
import { assert, it } from "@effect/vitest"
import { Effect, Fiber, Ref, Schedule, TestClock } from "effect"
import { TestClocks, TestDatabase } from "../src/index.js"

/** A loop that does a query taking 50 ms of real time, then counts a tick, every second. */
const queryEverySecond = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const ticks = yield* Ref.make(0)
  const fiber = yield* sql`select pg_sleep(0.05)`.pipe(
    Effect.zipRight(Ref.update(ticks, (count) => count + 1)),
    Effect.repeat(Schedule.spaced("1 second")),
    Effect.fork
  )
  return { ticks, fiber }
})

it.layer(TestDatabase.layer)("TestClocks.advanceUntil", (it) => {
  it.effect("drives a loop doing real I/O through every tick, where one big adjust skips them", () =>
    Effect.gen(function* () {
      const oneJump = yield* queryEverySecond
      yield* TestClock.adjust("10 seconds")
      const ticksAfterOneJump = yield* Ref.get(oneJump.ticks)
      yield* Fiber.interrupt(oneJump.fiber)
      assert.isBelow(ticksAfterOneJump, 10)

      const stepped = yield* queryEverySecond
      yield* TestClocks.advanceUntil(Ref.get(stepped.ticks).pipe(Effect.map((ticks) => ticks >= 10)), {
        step: "100 millis",
        max: "1 minute"
      })
      assert.strictEqual(yield* Ref.get(stepped.ticks), 10)
    })
  )

  it.effect("fails with AdvanceLimitError when the condition never holds", () =>
    Effect.gen(function* () {
      const startedAt = yield* TestClock.currentTimeMillis
      const error = yield* TestClocks.advanceUntil(Effect.succeed(false), {
        step: "1 second",
        max: "5 seconds"
      }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "AdvanceLimitError")
      assert.strictEqual((yield* TestClock.currentTimeMillis) - startedAt, 5_000)
    })
  )
})
