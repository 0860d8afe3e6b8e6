import { TestClocks } from "@converge/testing"
import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import * as EventStore from "../src/state/EventStore.js"
import { advanceUntil, live, liveCount, startManager } from "./harness.js"
import { migratedDatabase } from "./helpers.js"

describe("limits", () => {
  it.layer(migratedDatabase)("create rate limit", (it) => {
    it.scoped("creates of all groups share one token bucket, first come first served", () =>
      Effect.gen(function* () {
        const { simulation } = yield* startManager({
          yaml: "groups:\n  - { key: a, desiredSize: 4 }\n  - { key: b, desiredSize: 4 }\n  - { key: c, desiredSize: 4 }\n",
          lockKey: 7601,
          createRateLimit: { burst: 2, perSecond: 1 }
        })
        // Passes wait on the bucket (the clock), so time is moved without waiting for idleness.
        yield* TestClocks.advanceUntil(
          Effect.map(simulation.controls.instances, (instances) => instances.length === 12),
          { step: "100 millis", max: "1 minute" }
        )
        const times = (yield* simulation.controls.instances)
          .map((instance) => instance.createdAt)
          .sort((x, y) => x - y)
        // 2 at once, then one per second: the 12th create cannot happen before 10 s.
        expect(times.at(-1)).toBeGreaterThanOrEqual(10_000)
        // The bucket's defining bound: t seconds after it was made full (at time 0, with the manager),
        // at most burst + rate·t creates. A create that runs late only makes its time larger.
        for (const [index, time] of times.entries()) {
          expect(time).toBeGreaterThanOrEqual((index + 1 - 2) * 1_000)
        }
        const groups = new Set(
          (yield* simulation.controls.instances).slice(0, 6).map((instance) => instance.group)
        )
        expect(groups.size).toBeGreaterThan(1)
      })
    )
  })

  it.layer(migratedDatabase)("event queue", (it) => {
    it.scoped("a full event queue refuses API events with a clear error and shows in the status", () =>
      Effect.gen(function* () {
        const { manager } = yield* startManager({
          yaml: "groups:\n  - { key: q, desiredSize: 1 }\n",
          lockKey: 7602,
          eventQueueCapacity: 3
        })
        yield* advanceUntil(
          manager,
          Effect.map(liveCount("q"), (count) => count === 1),
          {
            step: "1 second",
            max: "1 minute"
          }
        )
        const [instance] = yield* live("q")
        if (instance === undefined) return expect.unreachable()
        const now = yield* Clock.currentTimeMillis
        // Three events due in an hour fill the queue.
        for (let index = 0; index < 3; index++) {
          yield* EventStore.enqueue(
            {
              type: "GroupChanged",
              tenant: "default",
              group: "q",
              term: 1,
              createdAt: new Date(now),
              dueAt: new Date(now + 3_600_000)
            },
            3
          )
        }
        const refused = yield* Effect.flip(manager.drainAck(instance.id))
        expect(refused._tag).toBe("EventQueueFull")
        expect(refused.message).toContain("The event queue is full (3 pending events)")
        expect((yield* manager.status.get).queue.full).toBe(true)
      })
    )
  })
})
