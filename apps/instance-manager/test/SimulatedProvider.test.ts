import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Option, Schema, Stream, TestClock } from "effect"
import { SimulatedProviderConfig } from "../src/config/ProviderConfig.js"
import * as SimulatedProvider from "../src/provider/SimulatedProvider.js"

const simulation = (overrides: Record<string, unknown> = {}) =>
  SimulatedProvider.make(
    Schema.decodeUnknownSync(SimulatedProviderConfig)({ type: "simulated", ...overrides })
  )

const request = (instanceId: string, group = "web") => ({
  instanceId,
  tenant: "default",
  group,
  template: { image: "web-1" },
  templateHash: "h1"
})

describe("SimulatedProvider", () => {
  it.scoped("a create takes its latency; the instance is pending until booted, then running", () =>
    Effect.gen(function* () {
      const { provider } = yield* simulation({ createLatency: "50ms", bootTime: "5s" })
      const creating = yield* Effect.fork(provider.create(request("i-1")))
      yield* TestClock.adjust(Duration.millis(49))
      expect(Option.isNone(yield* Fiber.poll(creating))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      const created = yield* Fiber.join(creating)
      expect(created).toMatchObject({ instanceId: "i-1", state: "pending", group: "web" })
      yield* TestClock.adjust(Duration.seconds(5))
      const described = yield* Effect.fork(provider.describe(created.providerId))
      yield* TestClock.adjust(Duration.seconds(1))
      expect(Option.map(yield* Fiber.join(described), (instance) => instance.state)).toEqual(
        Option.some("running")
      )
      const listing = yield* Effect.fork(
        Effect.zip(provider.list("default", "web"), provider.list("default", "db"))
      )
      yield* TestClock.adjust(Duration.seconds(1))
      const [web, db] = yield* Fiber.join(listing)
      expect(web.map((instance) => instance.instanceId)).toEqual(["i-1"])
      expect(db).toEqual([])
    })
  )

  it.scoped(
    "listAll pages through every group's instances, one API call per page, with a cursor that survives deletes",
    () =>
      Effect.gen(function* () {
        const { provider, controls } = yield* simulation({
          createLatency: 0,
          deleteLatency: 0,
          describeLatency: "5ms",
          listPageSize: 2,
          api: { burst: 8, perSecond: 1 }
        })
        const created = yield* Effect.forEach(["w-1", "w-2", "w-3", "d-1", "d-2"], (id) =>
          provider.create(request(id, id.startsWith("w") ? "web" : "db"))
        )
        const page = (token: string | undefined) =>
          Effect.gen(function* () {
            const fiber = yield* Effect.fork(provider.listAll(token))
            yield* TestClock.adjust(Duration.millis(5))
            return yield* Fiber.join(fiber)
          })
        const first = yield* page(undefined)
        expect(first.instances.map((instance) => instance.instanceId)).toEqual(["w-1", "w-2"])
        expect(first.nextPageToken).toBeDefined()
        // An instance of the page just read goes away: the next page still starts after it.
        yield* provider.delete(created[1]?.providerId ?? "")
        const second = yield* page(first.nextPageToken)
        expect(second.instances.map((instance) => instance.instanceId)).toEqual(["w-3", "d-1"])
        // The burst (8) went to 5 creates, 1 delete and 2 pages: the last page waits for its token (1/s).
        const last = yield* Effect.fork(provider.listAll(second.nextPageToken))
        yield* TestClock.adjust(Duration.millis(500))
        expect(Option.isNone(yield* Fiber.poll(last))).toBe(true)
        yield* TestClock.adjust(Duration.seconds(1))
        const third = yield* Fiber.join(last)
        expect(third.instances.map((instance) => instance.instanceId)).toEqual(["d-2"])
        expect(third.nextPageToken).toBeUndefined()
        expect((yield* controls.calls).listAll).toBe(3)
        const invalid = yield* Effect.fork(Effect.flip(provider.listAll("not-a-token")))
        yield* TestClock.adjust(Duration.seconds(2))
        expect((yield* Fiber.join(invalid))._tag).toBe("ProviderPermanentError")
      })
  )

  it.scoped("the API bucket queues calls past the burst at the refill rate (wait mode)", () =>
    Effect.gen(function* () {
      const { provider, controls } = yield* simulation({
        createLatency: 0,
        api: { burst: 100, perSecond: 20 }
      })
      const done: Array<string> = []
      yield* Effect.forkScoped(
        Effect.forEach(
          Array.from({ length: 160 }, (_, index) => `i-${index}`),
          (id) => Effect.tap(provider.create(request(id)), () => Effect.sync(() => done.push(id))),
          { concurrency: "unbounded", discard: true }
        )
      )
      yield* TestClock.adjust(Duration.zero)
      expect(done).toHaveLength(100)
      yield* TestClock.adjust(Duration.seconds(1))
      expect(done).toHaveLength(120)
      yield* TestClock.adjust(Duration.seconds(2))
      expect(done).toHaveLength(160)
      expect((yield* controls.calls).create).toBe(160)
    })
  )

  it.scoped("reject mode fails calls past the burst with a throttled error saying when to retry", () =>
    Effect.gen(function* () {
      const { provider, controls } = yield* simulation({
        createLatency: 0,
        throttle: "reject",
        api: { burst: 2, perSecond: 4 }
      })
      yield* provider.create(request("a"))
      yield* provider.create(request("b"))
      const throttled = yield* Effect.flip(provider.create(request("c")))
      expect(throttled._tag).toBe("ProviderThrottledError")
      expect(throttled._tag === "ProviderThrottledError" && Duration.toMillis(throttled.retryAfter)).toBe(250)
      yield* TestClock.adjust(Duration.millis(250))
      yield* provider.create(request("c"))
      expect((yield* controls.calls).throttled).toBe(1)
    })
  )

  it.scoped("scripted create failures are transient or permanent; failure rate and quota apply", () =>
    Effect.gen(function* () {
      const { provider, controls } = yield* simulation({ createLatency: 0, quota: 2 })
      yield* controls.failNextCreates(1, "transient")
      yield* controls.failNextCreates(1, "permanent")
      expect((yield* Effect.flip(provider.create(request("a"))))._tag).toBe("ProviderRetryableError")
      expect((yield* Effect.flip(provider.create(request("a"))))._tag).toBe("ProviderPermanentError")
      yield* provider.create(request("a"))
      yield* provider.create(request("b"))
      const quota = yield* Effect.flip(provider.create(request("c")))
      expect(quota._tag).toBe("ProviderPermanentError")
      expect(quota.message).toContain("quota of 2")
      expect((yield* controls.calls).failedCreates).toBe(3)

      const flaky = yield* simulation({ createLatency: 0, failureRate: 1 })
      expect((yield* Effect.flip(flaky.provider.create(request("x"))))._tag).toBe("ProviderRetryableError")
    })
  )

  it.scoped("faults: mass failure, terminal states, vanishing, termination notices, idempotent delete", () =>
    Effect.gen(function* () {
      const { provider, controls } = yield* simulation({
        createLatency: 0,
        deleteLatency: 0,
        describeLatency: 0,
        bootTime: 0
      })
      const created = yield* Effect.forEach(["a", "b", "c", "d"], (id) => provider.create(request(id)))
      const failed = yield* controls.massFailure("default", "web", 0.5)
      expect(failed).toHaveLength(2)
      const states = (yield* provider.list("default", "web")).map((instance) => instance.state)
      expect(states.filter((state) => state === "failed")).toHaveLength(2)

      const [, , c, d] = created
      if (c === undefined || d === undefined) return expect.unreachable()
      yield* controls.vanish(c.providerId)
      expect(yield* provider.describe(c.providerId)).toEqual(Option.none())

      const notices = yield* Effect.fork(Stream.runCollect(Stream.take(provider.terminationNotices, 1)))
      yield* TestClock.adjust(Duration.zero)
      yield* controls.terminationNotice(d.providerId, "2 minutes")
      const [notice] = Chunk.toReadonlyArray(yield* Fiber.join(notices))
      expect(notice).toMatchObject({ instanceId: "d", terminatesAt: 120_000 })
      expect(Option.map(yield* provider.describe(d.providerId), (instance) => instance.state)).toEqual(
        Option.some("running")
      )
      yield* TestClock.adjust(Duration.minutes(2))
      expect(Option.map(yield* provider.describe(d.providerId), (instance) => instance.state)).toEqual(
        Option.some("terminated")
      )
      yield* provider.delete(d.providerId)
      yield* provider.delete(d.providerId)
      expect(yield* provider.describe(d.providerId)).toEqual(Option.none())
    })
  )
})
