import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schedule, Stream } from "effect"
import * as Relay from "../src/relay/Relay.js"
import * as Fdv2Server from "../src/server/Fdv2Server.js"
import { admin, serverLayer, twoFlags } from "./support/LocalServer.js"

const flagsOf = (url: string) =>
  Effect.promise(() =>
    fetch(`${url}/flags`).then((response) => response.json() as Promise<{ flags: Record<string, unknown> }>)
  )

/** Waits for the relay's data status to be interrupted with `category`. */
const awaitInterrupted = (relay: Relay.Relay["Type"], category: string) =>
  relay.dataSystem.status.changes.pipe(
    Stream.filter((status) => status.state === "interrupted" && status.error?.category === category),
    Stream.runHead,
    Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => `no ${category} interruption` })
  )

describe("the relay under bad input from its upstream", () => {
  it.live(
    "invalid JSON and an oversized event are categorized interruptions; the store is never corrupted",
    () =>
      Effect.gen(function* () {
        const server = yield* Fdv2Server.Fdv2Server
        const built = yield* Layer.build(
          Relay.layerFromOptions({
            upstream: server.url,
            port: 0,
            statusPort: 0,
            cacheFile: join(mkdtempSync(join(tmpdir(), "flag-bad-input-")), "cache.json")
          })
        )
        const relay = Context.get(built, Relay.Relay)
        const served = { alpha: { on: true }, beta: { on: false } }
        yield* relay.dataSystem.waitForInitialization
        expect((yield* flagsOf(relay.url)).flags).toEqual(served)

        const invalid = yield* Effect.fork(awaitInterrupted(relay, "invalid-data"))
        yield* admin("POST", "/admin/faults/invalid-data", { count: 1 })
        yield* invalid.await
        expect((yield* flagsOf(relay.url)).flags).toEqual(served)

        const oversized = yield* Effect.fork(awaitInterrupted(relay, "payload-too-large"))
        yield* admin("POST", "/admin/faults/event", {
          event: "put-object",
          data: JSON.stringify({
            kind: "flag",
            key: "huge",
            version: 99,
            object: "x".repeat(11 * 1024 * 1024)
          })
        })
        yield* oversized.await
        expect((yield* flagsOf(relay.url)).flags).toEqual(served)

        // The relay recovers and later changes still apply.
        yield* admin("PUT", "/admin/flags/gamma", { on: true })
        yield* flagsOf(relay.url).pipe(
          Effect.filterOrFail((body) => "gamma" in body.flags),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("30 seconds")))
        )
        expect(Object.keys((yield* flagsOf(relay.url)).flags).sort()).toEqual(["alpha", "beta", "gamma"])
      }).pipe(Effect.scoped, Effect.provide(serverLayer(twoFlags))),
    120_000
  )
})
