import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, TestClock } from "effect"
import * as ChangeSet from "../src/ChangeSet.js"
import * as FallbackDirective from "../src/FallbackDirective.js"
import * as Selector from "../src/Selector.js"
import * as Store from "../src/Store.js"
import * as Fdv2Server from "../src/server/Fdv2Server.js"
import * as Fdv1PollingSynchronizer from "../src/sources/Fdv1PollingSynchronizer.js"
import * as PollingInitializer from "../src/sources/PollingInitializer.js"
import * as PollingSynchronizer from "../src/sources/PollingSynchronizer.js"
import {
  admin,
  awaitStats,
  pendingSleep,
  runSynchronizer,
  serverLayer,
  serverState,
  stats,
  twoFlags
} from "./support/LocalServer.js"

const timeout = 60_000
const baseUrl = Effect.map(Fdv2Server.Fdv2Server, (server) => server.url)

const initializer = Effect.flatMap(baseUrl, (url) => PollingInitializer.make({ baseUrl: url }))

const polling = (interval: Duration.DurationInput = Duration.seconds(30)) =>
  Effect.flatMap(baseUrl, (url) => PollingSynchronizer.make({ baseUrl: url, interval })).pipe(
    Effect.flatMap(runSynchronizer)
  )

describe("PollingInitializer over a real serve-fdv2", () => {
  it.scoped(
    "basis= empty → the full payload with the server's selector; the current basis → 304 → None",
    () =>
      Effect.gen(function* () {
        const init = yield* initializer
        const first = yield* init.run(Selector.empty)
        expect(first._tag).toBe("ChangeSet")
        if (first._tag !== "ChangeSet" || first.changeSet._tag !== "Full") return expect.fail("not Full")
        expect(first.changeSet.selector).toEqual(yield* serverState)
        expect(first.changeSet.updates.map((update) => update.key).sort()).toEqual(["alpha", "beta"])
        const second = yield* init.run(yield* serverState)
        expect(second).toEqual({ _tag: "ChangeSet", changeSet: ChangeSet.none })
        const bases = (yield* stats).recentRequests.map((request) => request.basis)
        expect(bases).toEqual(["", (yield* serverState).state])
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "failures are categorized results, never crashes: 401 terminal, 503 interrupted, invalid body, unreachable server",
    () =>
      Effect.gen(function* () {
        const init = yield* initializer
        yield* admin("POST", "/admin/faults/status", { status: 401 })
        const unauthorized = yield* init.run(Selector.empty)
        expect(unauthorized._tag).toBe("Terminal")
        yield* admin("POST", "/admin/faults/status", { status: 503 })
        const unavailable = yield* init.run(Selector.empty)
        expect(unavailable._tag === "Interrupted" && unavailable.error.status).toEqual(Option.some(503))
        yield* admin("POST", "/admin/faults/invalid-data")
        const invalid = yield* init.run(Selector.empty)
        expect(invalid._tag === "Interrupted" && invalid.error.category).toBe("invalid-data")
        const nowhere = yield* PollingInitializer.make({ baseUrl: "http://127.0.0.1:9" })
        const unreachable = yield* nowhere.run(Selector.empty)
        expect(unreachable._tag === "Interrupted" && unreachable.error.category).toBe("network-error")
        expect(unreachable._tag === "Interrupted" && unreachable.error.message).not.toContain("127.0.0.1")
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "an oversized polling body is categorized payload-too-large and nothing of it applies",
    () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const init = yield* PollingInitializer.make({ baseUrl: url, maxPayloadBytes: 100 })
        const result = yield* init.run(Selector.empty)
        expect(result._tag === "Interrupted" && result.error.category).toBe("payload-too-large")
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )
})

describe("PollingSynchronizer over a real serve-fdv2", () => {
  it.scoped(
    "polls at once and then every interval with the held basis: 304 → None, a change → Full; one poll in flight",
    () =>
      Effect.gen(function* () {
        yield* admin("POST", "/admin/faults/latency", { millis: 100 })
        const run = yield* polling(Duration.seconds(30))
        const { result: first } = yield* run.nextOf("ChangeSet")
        expect(first.changeSet._tag).toBe("Full")
        // The next poll waits for the interval on the (test) clock.
        expect(yield* pendingSleep).toBe(30_000)
        yield* TestClock.adjust(Duration.seconds(30))
        expect((yield* run.nextOf("ChangeSet")).result.changeSet).toEqual(ChangeSet.none)
        yield* admin("PUT", "/admin/flags/gamma", { on: true })
        yield* TestClock.adjust(yield* pendingSleep)
        expect((yield* run.nextOf("ChangeSet")).result.changeSet._tag).toBe("Full")
        expect(Store.get(yield* run.store, "flag", "gamma")._tag).toBe("Some")
        const seen = yield* stats
        expect(seen.polls).toBe(3)
        expect(seen.pollsMaxInFlight).toBe(1)
        const state = (yield* serverState).state
        expect(seen.recentRequests.map((request) => request.basis)).toEqual([
          "",
          seen.recentRequests[1]?.basis,
          seen.recentRequests[1]?.basis
        ])
        expect(seen.recentRequests[1]?.basis).not.toBe(state)
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "a failed poll is reported and polling goes on; a terminal status ends the run",
    () =>
      Effect.gen(function* () {
        yield* admin("POST", "/admin/faults/status", { status: 500 })
        const run = yield* polling(Duration.seconds(5))
        const { result } = yield* run.nextOf("Interrupted")
        expect(result.error.message).toBe("HTTP 500 from the polling endpoint")
        yield* TestClock.adjust(yield* pendingSleep)
        yield* run.nextOf("ChangeSet")
        yield* admin("POST", "/admin/faults/status", { status: 403 })
        yield* TestClock.adjust(yield* pendingSleep)
        expect((yield* run.nextOf("Terminal")).result.error.status).toEqual(Option.some(403))
        expect(yield* run.next).toBe("end")
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "the fallback header: the payload first, then Fdv1Fallback with the TTL, and the run ends",
    () =>
      Effect.gen(function* () {
        yield* admin("POST", "/admin/faults/fallback-header", { ttlSeconds: 30 })
        const run = yield* polling()
        const first = yield* run.next
        const second = yield* run.next
        expect(first !== "end" && first._tag).toBe("ChangeSet")
        expect(second !== "end" && second._tag === "Fdv1Fallback" && second.directive).toEqual(
          FallbackDirective.make(30)
        )
        expect(yield* run.next).toBe("end")
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )
})

describe("Fdv1PollingSynchronizer.decodeLatestAll", () => {
  const limits = { maxPayloadBytes: 200, kinds: new Set(["flag", "segment"]) }
  it("bad bodies are categorized errors that never echo the payload", () => {
    const cases = [
      ["{ not json", "invalid-data"],
      [JSON.stringify({ flags: [1, 2] }), "invalid-data"],
      [JSON.stringify({ flags: { big: "x".repeat(500) } }), "payload-too-large"]
    ] as const
    for (const [body, category] of cases) {
      const decoded = Fdv1PollingSynchronizer.decodeLatestAll(body, limits)
      expect(decoded._tag === "Left" && decoded.left.category).toBe(category)
      expect(decoded._tag === "Left" && decoded.left.message).not.toContain("xxx")
    }
  })

  it("objects without a numeric version get version 0; kinds outside the set are dropped", () => {
    const decoded = Fdv1PollingSynchronizer.decodeLatestAll(
      JSON.stringify({ flags: { a: { on: true } }, segments: { s: { version: 4 } } }),
      { maxPayloadBytes: 1_000, kinds: new Set(["flag"]) }
    )
    if (decoded._tag === "Left" || decoded.right._tag !== "Full") return expect.fail("not Full")
    expect(decoded.right.updates).toEqual([
      ChangeSet.Update.Put({ kind: "flag", key: "a", version: 0, object: { on: true } })
    ])
  })
})

describe("Fdv1PollingSynchronizer over a real serve-fdv2", () => {
  it.scoped(
    "latest-all → a Full change set with the empty selector; the fallback header is ignored; 401 is terminal",
    () =>
      Effect.gen(function* () {
        const url = yield* baseUrl
        const fdv1 = yield* Fdv1PollingSynchronizer.make({ baseUrl: url, interval: Duration.seconds(300) })
        expect(fdv1.protocol).toBe("fdv1")
        yield* admin("POST", "/admin/faults/fallback-header", { ttlSeconds: 0, count: 5 })
        const run = yield* runSynchronizer(fdv1)
        const { result } = yield* run.nextOf("ChangeSet")
        if (result.changeSet._tag !== "Full") return expect.fail("not Full")
        expect(result.changeSet.selector).toEqual(Selector.empty)
        const store = yield* run.store
        expect(Store.get(store, "flag", "alpha")).toEqual(
          Option.some({ version: 1, object: { on: true, key: "alpha", version: 1 } })
        )
        yield* admin("PUT", "/admin/flags/alpha", { on: false })
        expect(yield* pendingSleep).toBe(300_000)
        yield* TestClock.adjust(Duration.seconds(300))
        yield* run.nextOf("ChangeSet")
        expect(Store.get(yield* run.store, "flag", "alpha").pipe(Option.map((item) => item.version))).toEqual(
          Option.some(2)
        )
        yield* admin("POST", "/admin/faults/status", { status: 401 })
        yield* TestClock.adjust(Duration.seconds(300))
        const { result: terminal, skipped } = yield* run.nextOf("Terminal")
        expect(skipped).toEqual([])
        expect(terminal.error.message).toBe("HTTP 401 from the FDv1 polling endpoint")
        expect(yield* run.next).toBe("end")
        yield* awaitStats((s) => s.fdv1Polls === 3, "three FDv1 polls")
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )
})
