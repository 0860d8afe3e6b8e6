import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option, TestClock } from "effect"
import * as ChangeSet from "../src/ChangeSet.js"
import * as FallbackDirective from "../src/FallbackDirective.js"
import * as Store from "../src/Store.js"
import * as Fdv2Server from "../src/server/Fdv2Server.js"
import * as StreamingSynchronizer from "../src/sources/StreamingSynchronizer.js"
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

const streaming = (options: Partial<StreamingSynchronizer.Options> = {}) =>
  Effect.flatMap(Fdv2Server.Fdv2Server, (server) =>
    StreamingSynchronizer.make({ baseUrl: server.url, ...options })
  ).pipe(Effect.flatMap(runSynchronizer))

const keysOf = (changeSet: ChangeSet.ChangeSet) =>
  changeSet._tag === "None" ? [] : changeSet.updates.map((update) => update.key)

describe("StreamingSynchronizer over a real serve-fdv2", () => {
  it.scoped(
    "a full transfer, then each live change as a partial change set with the server's selector",
    () =>
      Effect.gen(function* () {
        const run = yield* streaming()
        const { result: full } = yield* run.nextOf("ChangeSet")
        expect(full.changeSet._tag).toBe("Full")
        expect(keysOf(full.changeSet).sort()).toEqual(["alpha", "beta"])
        yield* admin("PUT", "/admin/flags/gamma", { on: true })
        const { result: partial } = yield* run.nextOf("ChangeSet")
        expect(partial.changeSet._tag).toBe("Partial")
        expect(keysOf(partial.changeSet)).toEqual(["gamma"])
        yield* admin("DELETE", "/admin/flags/alpha")
        yield* run.nextOf("ChangeSet")
        const store = yield* run.store
        expect([...Store.all(store, "flag").keys()].sort()).toEqual(["beta", "gamma"])
        expect(store.selector).toEqual(yield* serverState)
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "nothing is applied before payload-transferred, and a half transfer never leaks into the next connection",
    () =>
      Effect.gen(function* () {
        const run = yield* streaming()
        yield* run.nextOf("ChangeSet")
        const before = yield* run.store
        // A put without its payload-transferred, then the socket drops.
        yield* admin("POST", "/admin/faults/event", {
          event: "put-object",
          data: JSON.stringify({ kind: "flag", key: "leaked", version: 99, object: {} })
        })
        yield* admin("POST", "/admin/faults/drop")
        const { result: interrupted } = yield* run.nextOf("Interrupted")
        expect(interrupted.error.category).toBe("network-error")
        expect(yield* run.store).toEqual(before)
        yield* TestClock.adjust(yield* pendingSleep)
        // Reconnected with a current basis: intent none. A bare payload-transferred now must not carry the old put.
        const { result: none } = yield* run.nextOf("ChangeSet")
        expect(none.changeSet._tag).toBe("None")
        yield* admin("POST", "/admin/faults/event", {
          event: "payload-transferred",
          data: JSON.stringify({ state: before.selector.state, version: before.selector.version })
        })
        const { result: empty } = yield* run.nextOf("ChangeSet")
        expect(keysOf(empty.changeSet)).toEqual([])
        expect(Store.get(yield* run.store, "flag", "leaked")).toEqual(Option.none())
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "sends basis= empty first and the held selector on every reconnect; the server answers intent none",
    () =>
      Effect.gen(function* () {
        const run = yield* streaming()
        yield* run.nextOf("ChangeSet")
        const state = (yield* serverState).state
        for (let round = 0; round < 3; round++) {
          yield* admin("POST", "/admin/faults/drop")
          yield* run.nextOf("Interrupted")
          yield* TestClock.adjust(yield* pendingSleep)
          const { result } = yield* run.nextOf("ChangeSet")
          expect(result.changeSet).toEqual(ChangeSet.none)
        }
        const bases = (yield* stats).recentRequests.filter((r) => r.endpoint === "stream").map((r) => r.basis)
        expect(bases).toEqual(["", state, state, state])
        // Strictly one connection at a time across every reconnect.
        expect((yield* stats).streamsMaxOpen).toBe(1)
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "HTTP 401, 403 and 404 are terminal and end the run",
    () =>
      Effect.gen(function* () {
        for (const status of [401, 403, 404]) {
          yield* admin("POST", "/admin/faults/status", { status })
          const run = yield* streaming()
          const { result } = yield* run.nextOf("Terminal")
          expect(result.error.category).toBe("http-status")
          expect(result.error.status).toEqual(Option.some(status))
          expect(result.error.message).toBe(`HTTP ${status} from the streaming endpoint`)
          expect(yield* run.next).toBe("end")
        }
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "5xx and 429 are interruptions: the synchronizer reports each and reconnects after its backoff",
    () =>
      Effect.gen(function* () {
        yield* admin("POST", "/admin/faults/status", { status: 503, count: 2 })
        const run = yield* streaming()
        for (let attempt = 0; attempt < 2; attempt++) {
          const { result } = yield* run.nextOf("Interrupted")
          expect(result.error.status).toEqual(Option.some(503))
          yield* TestClock.adjust(yield* pendingSleep)
        }
        yield* admin("POST", "/admin/faults/status", { status: 429 })
        yield* admin("POST", "/admin/faults/drop")
        yield* run.nextOf("ChangeSet")
        const { result } = yield* run.nextOf("Interrupted")
        expect(result.error.category).toBe("network-error")
        yield* TestClock.adjust(yield* pendingSleep)
        const { result: throttled } = yield* run.nextOf("Interrupted")
        expect(throttled.error.status).toEqual(Option.some(429))
        yield* TestClock.adjust(yield* pendingSleep)
        yield* run.nextOf("ChangeSet")
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "reconnect backoff over many samples: 1 s doubling to 30 s, within 50 % jitter, reset after 60 s connected",
    () =>
      Effect.gen(function* () {
        const failures = 24
        yield* admin("POST", "/admin/faults/status", { status: 500, count: failures })
        const run = yield* streaming()
        const delays: Array<number> = []
        for (let attempt = 1; attempt <= failures; attempt++) {
          yield* run.nextOf("Interrupted")
          const delay = yield* pendingSleep
          const planned = Math.min(30_000, 1_000 * 2 ** (attempt - 1))
          expect(delay).toBeGreaterThanOrEqual(planned * 0.5)
          expect(delay).toBeLessThanOrEqual(planned)
          delays.push(delay)
          yield* TestClock.adjust(delay)
        }
        // Jittered: the capped samples are not all the same.
        expect(new Set(delays.slice(6)).size).toBeGreaterThan(1)
        yield* run.nextOf("ChangeSet")
        // Connected for 60 s: the next failure starts over from 1 s.
        yield* TestClock.adjust(Duration.seconds(60))
        yield* admin("POST", "/admin/faults/drop")
        yield* run.nextOf("Interrupted")
        expect(yield* pendingSleep).toBeLessThanOrEqual(1_000)
        // Connected only briefly: the backoff keeps growing.
        yield* TestClock.adjust(yield* pendingSleep)
        yield* run.nextOf("ChangeSet")
        yield* admin("POST", "/admin/faults/drop")
        yield* run.nextOf("Interrupted")
        expect(yield* pendingSleep).toBeGreaterThanOrEqual(1_000)
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "goodbye → Recycle; goodbye with protocolFallbackTTL → Fdv1Fallback; a clean end of stream → Recycle",
    () =>
      Effect.gen(function* () {
        const first = yield* streaming()
        yield* first.nextOf("ChangeSet")
        yield* admin("POST", "/admin/faults/goodbye", { reason: "shutting down" })
        expect((yield* first.nextOf("Recycle")).result.reason).toBe("goodbye")
        expect(yield* first.next).toBe("end")

        const second = yield* streaming()
        yield* second.nextOf("ChangeSet")
        yield* admin("POST", "/admin/faults/goodbye", { protocolFallbackTTL: 90 })
        const { result } = yield* second.nextOf("Fdv1Fallback")
        expect(result.directive).toEqual(FallbackDirective.make(90))
        expect(yield* second.next).toBe("end")

        const third = yield* streaming()
        yield* third.nextOf("ChangeSet")
        yield* admin("POST", "/admin/faults/end")
        expect((yield* third.nextOf("Recycle")).result.reason).toBe("end-of-stream")
        expect(yield* third.next).toBe("end")
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "invalid JSON, a malformed event and an oversized event → a categorized interruption, then Recycle; the store is untouched",
    () =>
      Effect.gen(function* () {
        const cases = [
          { inject: () => admin("POST", "/admin/faults/invalid-data"), category: "invalid-data" },
          {
            inject: () =>
              admin("POST", "/admin/faults/event", {
                event: "put-object",
                data: JSON.stringify({ kind: 1 })
              }),
            category: "invalid-data"
          },
          {
            inject: () =>
              admin("POST", "/admin/faults/event", { event: "put-object", data: "x".repeat(5_000) }),
            category: "payload-too-large"
          }
        ]
        for (const { inject, category } of cases) {
          const run = yield* streaming({ maxPayloadBytes: 2_000 })
          yield* run.nextOf("ChangeSet")
          const before = yield* run.store
          yield* inject()
          const { result } = yield* run.nextOf("Interrupted")
          expect(result.error.category).toBe(category)
          expect(result.error.message).not.toContain("xxxx")
          expect((yield* run.nextOf("Recycle")).result.reason).toBe("invalid-data")
          expect(yield* run.next).toBe("end")
          expect(yield* run.store).toEqual(before)
        }
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "the fallback header yields Fdv1Fallback after the payload it came with; TTL absent → 1 h, 0 → stay, negative → 0",
    () =>
      Effect.gen(function* () {
        const cases: ReadonlyArray<{ ttlSeconds?: number; expected: Duration.Duration }> = [
          { ttlSeconds: 120, expected: Duration.seconds(120) },
          { expected: Duration.hours(1) },
          { ttlSeconds: 0, expected: Duration.zero },
          { ttlSeconds: -5, expected: Duration.zero }
        ]
        for (const { ttlSeconds, expected } of cases) {
          yield* admin(
            "POST",
            "/admin/faults/fallback-header",
            ttlSeconds === undefined ? {} : { ttlSeconds }
          )
          const run = yield* streaming()
          const first = yield* run.next
          const second = yield* run.next
          expect(first !== "end" && first._tag).toBe("ChangeSet")
          expect(second !== "end" && second._tag === "Fdv1Fallback" && second.directive.ttl).toEqual(expected)
          expect(yield* run.next).toBe("end")
          // The payload was applied before the directive.
          expect(Store.all(yield* run.store, "flag").size).toBe(2)
        }
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "legacy pings coalesce into one poll: at most one in flight and one queued",
    () =>
      Effect.gen(function* () {
        const run = yield* streaming()
        yield* run.nextOf("ChangeSet")
        yield* admin("POST", "/admin/faults/latency", { millis: 800 })
        yield* admin("POST", "/admin/faults/event", { event: "ping", data: "", count: 10 })
        yield* awaitStats((s) => s.polls >= 1 && s.pollsInFlight === 0, "a poll answered")
        // A ping poll's answer arrives as a change set: 304 → None (the basis is current).
        const { result } = yield* run.nextOf("ChangeSet")
        expect(result.changeSet).toEqual(ChangeSet.none)
        // Ten pings, one in flight at a time: one poll, or two when the poller took the first before the rest arrived.
        const settled = yield* stats
        expect(settled.polls).toBeGreaterThanOrEqual(1)
        expect(settled.polls).toBeLessThanOrEqual(2)
        expect(settled.pollsMaxInFlight).toBe(1)
        expect(settled.streamConnects).toBe(1)
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "a connection silent for longer than readTimeout is reconnected as a timeout interruption",
    () =>
      Effect.gen(function* () {
        const run = yield* streaming({ readTimeout: Duration.millis(300) })
        yield* run.nextOf("ChangeSet")
        const { result } = yield* run.nextOf("Interrupted")
        expect(result.error.category).toBe("timeout")
        expect(result.error.message).toBe(
          "the streaming endpoint sent nothing for longer than the read timeout"
        )
        yield* TestClock.adjust(yield* pendingSleep)
        expect((yield* run.nextOf("ChangeSet")).result.changeSet).toEqual(ChangeSet.none)
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )
})
