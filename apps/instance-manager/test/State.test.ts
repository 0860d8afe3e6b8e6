import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Either, Option, Schema as S } from "effect"
import { GroupConfig } from "../src/config/GroupConfig.js"
import * as EventStore from "../src/state/EventStore.js"
import * as Fence from "../src/state/Fence.js"
import * as GroupStore from "../src/state/GroupStore.js"
import * as InstanceStore from "../src/state/InstanceStore.js"
import { leadOn, migratedDatabase } from "./helpers.js"

const group = (key: string, desiredSize: number, extra: Record<string, unknown> = {}) =>
  S.decodeUnknownSync(GroupConfig)({ key, desiredSize, ...extra })

const at = (millis: number) => new Date(millis)

describe("state in Postgres", () => {
  it.layer(migratedDatabase)("tables", (it) => {
    it.effect("groups: upsert reports real changes only; desired size and deletion are recorded", () =>
      Effect.gen(function* () {
        expect(yield* GroupStore.upsert(group("web", 3), at(1))).toBe(true)
        expect(yield* GroupStore.upsert(group("web", 3), at(2))).toBe(false)
        expect(yield* GroupStore.upsert(group("web", 4), at(3))).toBe(true)
        const updated = yield* GroupStore.setDesired("default", "web", 5, at(4))
        expect(Option.map(updated, (record) => record.desiredSize)).toEqual(Option.some(5))
        expect(yield* GroupStore.setDesired("default", "nope", 5, at(4))).toEqual(Option.none())
        expect(yield* GroupStore.markDeleted("default", "web", at(5))).toBe(true)
        const stored = yield* GroupStore.get("default", "web")
        expect(Option.map(stored, (record) => record.deletedAt?.getTime())).toEqual(Option.some(5))
        expect(Option.map(stored, (record) => record.spec.maxSurge)).toEqual(Option.some(1))
        expect(yield* GroupStore.upsert(group("web", 4), at(6))).toBe(true)
      })
    )

    it.scoped(
      "reserve never exceeds the cap, even with many concurrent reserves; a stale term writes nothing",
      () =>
        Effect.gen(function* () {
          const lockKey = 9101
          yield* GroupStore.upsert(group("surge", 2), at(0))
          const first = yield* Effect.scoped(
            Effect.gen(function* () {
              const gate = yield* leadOn(lockKey)
              const term = yield* gate.term
              const results = yield* Effect.forEach(
                Array.from({ length: 12 }),
                () =>
                  InstanceStore.reserve({
                    tenant: "default",
                    group: "surge",
                    templateHash: "h",
                    cap: 3,
                    term,
                    now: at(10)
                  }),
                { concurrency: "unbounded" }
              )
              expect(results.filter(Option.isSome)).toHaveLength(3)
              return term
            })
          ).pipe(Effect.provide(Fence.layer(lockKey)))
          expect((yield* InstanceStore.listLive("default", "surge")).length).toBe(3)

          const gate = yield* leadOn(lockKey)
          expect(yield* gate.term).toBeGreaterThan(first)
          const stale = yield* InstanceStore.reserve({
            tenant: "default",
            group: "surge",
            templateHash: "h",
            cap: 10,
            term: first,
            now: at(20)
          }).pipe(Effect.provide(Fence.layer(lockKey)), Effect.either)
          expect(Either.isLeft(stale) && stale.left._tag).toBe("StaleTermError")
          expect((yield* InstanceStore.listLive("default", "surge")).length).toBe(3)
        })
    )

    it.scoped("facts: health reports, idempotent drain acks and termination notices", () =>
      Effect.gen(function* () {
        const lockKey = 9102
        const gate = yield* leadOn(lockKey)
        const term = yield* gate.term
        yield* GroupStore.upsert(group("facts", 1), at(0))
        const id = Option.getOrThrow(
          yield* InstanceStore.reserve({
            tenant: "default",
            group: "facts",
            templateHash: "h",
            cap: 1,
            term,
            now: at(1)
          }).pipe(Effect.provide(Fence.layer(lockKey)))
        )
        yield* InstanceStore.attachProvider(id, "sim-1")
        expect(yield* InstanceStore.recordHealth(id, at(2))).toBe(true)
        expect(yield* InstanceStore.recordHealth("unknown", at(2))).toBe(false)
        expect(yield* InstanceStore.recordDrainAck(id, at(3))).toBe(false)
        yield* InstanceStore.update(term, id, {
          state: "draining",
          drain_started_at: at(3),
          drain_reason: "test"
        }).pipe(Effect.provide(Fence.layer(lockKey)))
        expect(yield* InstanceStore.recordDrainAck(id, at(4))).toBe(true)
        expect(yield* InstanceStore.recordDrainAck(id, at(5))).toBe(true)
        expect(yield* InstanceStore.recordTerminationNotice(id, at(6))).toBe(true)
        expect(yield* InstanceStore.recordTerminationNotice(id, at(7))).toBe(true)
        const stored = Option.getOrThrow(yield* InstanceStore.get(id))
        expect(stored.state).toBe("draining")
        expect(stored.lastHealthAt?.getTime()).toBe(2)
        expect(stored.drainAckedAt?.getTime()).toBe(4)
        expect(stored.terminationNoticeAt?.getTime()).toBe(6)
        expect(Option.map(yield* InstanceStore.idOfProvider("sim-1"), (record) => record.id)).toEqual(
          Option.some(id)
        )
      })
    )

    it.effect("preventDuplicate suppresses within the window only after a success; retries bypass it", () =>
      Effect.gen(function* () {
        const event = {
          type: "CheckInstance" as const,
          tenant: "default",
          group: "dup",
          instanceId: "i-1",
          preventDuplicate: true,
          term: 1
        }
        yield* EventStore.enqueue({ ...event, createdAt: at(100) }, 100)
        const [first] = yield* EventStore.due("default", "dup", at(100))
        if (first === undefined) return expect.unreachable()
        expect(yield* EventStore.isDuplicate(first, at(0))).toBe(false)
        yield* EventStore.retryLater(first, 1, at(150), "transient")
        expect(yield* EventStore.due("default", "dup", at(149))).toEqual([])
        const [retried] = yield* EventStore.due("default", "dup", at(150))
        if (retried === undefined) return expect.unreachable()
        expect(retried.attempt).toBe(1)
        yield* EventStore.fail(retried, at(150), "gave up")

        // A failure records no success: the same event is not a duplicate.
        yield* EventStore.enqueue({ ...event, createdAt: at(200) }, 100)
        const [second] = yield* EventStore.due("default", "dup", at(200))
        if (second === undefined) return expect.unreachable()
        expect(yield* EventStore.isDuplicate(second, at(0))).toBe(false)
        yield* EventStore.succeed(second, at(210))

        yield* EventStore.enqueue({ ...event, createdAt: at(300) }, 100)
        const [third] = yield* EventStore.due("default", "dup", at(300))
        if (third === undefined) return expect.unreachable()
        expect(yield* EventStore.isDuplicate(third, at(200))).toBe(true)
        expect(yield* EventStore.isDuplicate(third, at(211))).toBe(false)
        expect(yield* EventStore.isDuplicate({ ...third, attempt: 1 }, at(200))).toBe(false)
        expect(yield* EventStore.isDuplicate({ ...third, instanceId: "i-2" }, at(200))).toBe(false)
        expect(yield* EventStore.isDuplicate({ ...third, preventDuplicate: false }, at(200))).toBe(false)
        yield* EventStore.skip(third, at(300))
        expect(yield* EventStore.due("default", "dup", at(1000))).toEqual([])
      })
    )

    it.effect("a full queue refuses with a clear error; a waiting producer gets in once there is room", () =>
      Effect.gen(function* () {
        const capacity = (yield* EventStore.pendingCount) + 2
        const event = {
          type: "GroupChanged" as const,
          tenant: "default",
          group: "full",
          term: 1,
          createdAt: at(1)
        }
        yield* EventStore.enqueue(event, capacity)
        yield* EventStore.enqueue(event, capacity)
        const full = yield* Effect.flip(EventStore.enqueue(event, capacity))
        expect(full._tag).toBe("EventQueueFull")
        expect(full._tag === "EventQueueFull" && full.message).toContain("raise eventQueueCapacity")
        // The producer polls on the real clock here: the test waits on a real database, not on timers.
        const waiting = yield* Effect.fork(
          EventStore.enqueueWaiting(event, capacity, "20 millis").pipe(Effect.withClock(Clock.make()))
        )
        const [oldest] = yield* EventStore.due("default", "full", at(1))
        if (oldest === undefined) return expect.unreachable()
        yield* EventStore.succeed(oldest, at(2))
        yield* waiting.await
        expect((yield* EventStore.due("default", "full", at(2))).length).toBe(2)
        const counts = yield* EventStore.countByStatus
        expect(counts.succeeded).toBeGreaterThanOrEqual(1)
      })
    )
  })
})
