import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Layer, Schedule } from "effect"
import * as Relay from "../src/relay/Relay.js"
import * as SampleScenario from "../src/SampleScenario.js"
import * as Fdv2Server from "../src/server/Fdv2Server.js"
import { serverLayer } from "./support/LocalServer.js"

const flagsOf = (url: string) =>
  Effect.promise(() =>
    fetch(`${url}/flags`).then((response) => response.json() as Promise<{ flags: unknown }>)
  )

describe("SampleScenario", () => {
  it.live(
    "a relay rides out the scenario's faults and ends with its final flags",
    () =>
      Effect.gen(function* () {
        const server = yield* Fdv2Server.Fdv2Server
        const relay = yield* Layer.build(
          Relay.layerFromOptions({
            upstream: server.url,
            port: 0,
            statusPort: 0,
            cacheFile: join(mkdtempSync(join(tmpdir(), "flag-scenario-")), "cache.json")
          })
        )
        const { url } = Context.get(relay, Relay.Relay)
        yield* SampleScenario.run({ adminUrl: server.url, pace: 0 })
        const expected = { "new-checkout": { on: true, rollout: 100 } }
        yield* flagsOf(url).pipe(
          Effect.filterOrFail((body) => JSON.stringify(body.flags) === JSON.stringify(expected)),
          Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo("60 seconds")))
        )
        expect((yield* flagsOf(url)).flags).toEqual(expected)
      }).pipe(Effect.scoped, Effect.provide(serverLayer())),
    120_000
  )
})
