import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Fdv2Server from "../src/server/Fdv2Server.js"
import * as FlagsFile from "../src/server/FlagsFile.js"
import { admin, serverLayer, serverState, twoFlags } from "./support/LocalServer.js"

const timeout = 30_000

const get = (path: string, headers: Record<string, string> = {}) =>
  Effect.flatMap(Fdv2Server.Fdv2Server, (server) =>
    Effect.promise(() => fetch(`${server.url}${path}`, { headers }))
  )

/** The stream's text up to and including the first event named `until`. */
const streamUntil = (path: string, until: string) =>
  Effect.flatMap(get(path), (response) =>
    Effect.promise(async () => {
      const reader = response.body?.getReader()
      if (reader === undefined) throw new Error("no body")
      const decoder = new TextDecoder()
      let text = ""
      while (!text.includes(`event: ${until}`) || !text.endsWith("\n\n")) {
        const { value, done } = await reader.read()
        if (done) break
        text += decoder.decode(value, { stream: true })
      }
      await reader.cancel()
      return { text, headers: response.headers, status: response.status }
    })
  )

describe("serve-fdv2", () => {
  it.scoped(
    "streaming honours basis: a full transfer without one, intent none with the current state",
    () =>
      Effect.gen(function* () {
        const full = yield* streamUntil("/sdk/stream?basis=", "payload-transferred")
        expect(full.headers.get("content-type")).toContain("text/event-stream")
        expect(full.text).toContain('"intentCode":"xfer-full"')
        expect(full.text).toContain('"key":"alpha"')
        const state = (yield* serverState).state
        expect(full.text).toContain(`"state":"${state}"`)
        const current = yield* streamUntil(`/sdk/stream?basis=${state}`, "server-intent")
        expect(current.text).toContain('"intentCode":"none"')
        expect(current.text).not.toContain("put-object")
        const stale = yield* streamUntil("/sdk/stream?basis=other-1", "payload-transferred")
        expect(stale.text).toContain('"intentCode":"xfer-full"')
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "polling: {events:[…]} for a stale basis, 304 for the current one; FDv1 latest-all with versions",
    () =>
      Effect.gen(function* () {
        const poll = yield* get("/sdk/poll?basis=")
        expect(poll.status).toBe(200)
        const body = (yield* Effect.promise(() => poll.json())) as { events: Array<{ event: string }> }
        expect(body.events.map((event) => event.event)).toEqual([
          "server-intent",
          "put-object",
          "put-object",
          "payload-transferred"
        ])
        const state = (yield* serverState).state
        expect((yield* get(`/sdk/poll?basis=${state}`)).status).toBe(304)
        yield* admin("PUT", "/admin/flags/alpha", { on: false })
        expect((yield* get(`/sdk/poll?basis=${state}`)).status).toBe(200)
        const latestResponse = yield* get("/sdk/latest-all")
        const latest: unknown = yield* Effect.promise(() => latestResponse.json())
        expect(latest).toEqual({
          flags: {
            alpha: { on: false, key: "alpha", version: 2 },
            beta: { on: false, key: "beta", version: 1 }
          },
          segments: {}
        })
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )

  it.scoped(
    "admin: every change bumps the version; unknown deletes 404; bad bodies 400 with the reason; status faults count down",
    () =>
      Effect.gen(function* () {
        const first = JSON.parse(yield* admin("PUT", "/admin/flags/new", { on: true })) as { version: number }
        const second = JSON.parse(yield* admin("DELETE", "/admin/flags/new")) as { version: number }
        expect(second.version).toBe(first.version + 1)
        const server = yield* Fdv2Server.Fdv2Server
        const call = (method: string, path: string, body?: string) =>
          Effect.promise(async () => {
            const response = await fetch(`${server.url}${path}`, {
              method,
              ...(body === undefined ? {} : { body })
            })
            return { status: response.status, text: await response.text() }
          })
        expect((yield* call("DELETE", "/admin/flags/new")).status).toBe(404)
        const bad = yield* call("POST", "/admin/faults/status", JSON.stringify({ status: "teapot" }))
        expect(bad.status).toBe(400)
        expect(bad.text).toContain("status")
        expect((yield* call("PUT", "/admin/flags/x", "{ nope")).status).toBe(400)
        yield* admin("POST", "/admin/faults/status", { status: 502, count: 2 })
        expect((yield* get("/sdk/poll")).status).toBe(502)
        expect((yield* get("/sdk/latest-all")).status).toBe(502)
        expect((yield* get("/sdk/poll")).status).toBe(200)
        expect((yield* call("GET", "/nowhere")).status).toBe(404)
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )
})

describe("serve-fdv2 client-side variant", () => {
  it.scoped(
    "/sdk/poll/eval/:context and /sdk/stream/eval/:context serve the flags as flag-eval objects",
    () =>
      Effect.gen(function* () {
        const poll = yield* get("/sdk/poll/eval/eyJrZXkiOiJ1In0")
        const body = (yield* Effect.promise(() => poll.json())) as {
          events: Array<{ event: string; data: { kind?: string } }>
        }
        const kinds = body.events
          .filter((event) => event.event === "put-object")
          .map((event) => event.data.kind)
        expect(kinds).toEqual(["flag-eval", "flag-eval"])
        const streamed = yield* streamUntil("/sdk/stream/eval/eyJrZXkiOiJ1In0?basis=", "payload-transferred")
        expect(streamed.text).toContain('"kind":"flag-eval"')
        expect(streamed.text).not.toContain('"kind":"flag",')
      }).pipe(Effect.provide(serverLayer(twoFlags))),
    timeout
  )
})

describe("serve-fdv2 heart-beats", () => {
  it.scoped(
    "an idle stream gets a heart-beat every heartbeatInterval",
    () =>
      Effect.gen(function* () {
        const idle = yield* streamUntil("/sdk/stream?basis=", "heart-beat")
        expect(idle.text).toContain("event: heart-beat")
      }).pipe(Effect.provide(Fdv2Server.layer({ heartbeatInterval: "200 millis" }))),
    timeout
  )
})

describe("FlagsFile", () => {
  it("parses flags and segments; both are optional", () => {
    expect(FlagsFile.parse("f.json", '{"flags":{"a":{"on":true}}}')).toEqual(
      Either.right({ flag: { a: { on: true } }, segment: {} })
    )
    expect(FlagsFile.parse("f.json", "{}")).toEqual(Either.right(FlagsFile.emptyData))
  })

  it("a bad file is a clear error naming the file, the problem and the expected shape", () => {
    const notJson = FlagsFile.parse("flags.json", "{ nope")
    expect(Either.isLeft(notJson) && notJson.left.message).toContain("flags.json is not valid JSON")
    const wrongShape = FlagsFile.parse("flags.json", '{"flags": [1, 2]}')
    expect(Either.isLeft(wrongShape) && wrongShape.left.message).toContain("wrong shape at flags")
    expect(Either.isLeft(wrongShape) && wrongShape.left.message).toContain('Expected {"flags"')
  })

  it.effect("a missing file is a clear error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(FlagsFile.load("/no/such/flags.json"))
      expect(error.message).toContain("Cannot read flags file /no/such/flags.json (NotFound)")
    }).pipe(Effect.provide(NodeContext.layer))
  )
})
