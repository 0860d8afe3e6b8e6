import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ProcessHarness } from "@converge/testing"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Schedule, Scope } from "effect"
import * as Relay from "../src/relay/Relay.js"
import * as RelayConfig from "../src/relay/RelayConfig.js"

const timeout = 120_000
const appDir = join(import.meta.dirname, "..")

const freePort = Effect.async<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A real `converge-flags serve-fdv2` child process. */
const startUpstream = (flagsFile: string, port: number) =>
  Effect.gen(function* () {
    const upstream = yield* ProcessHarness.start({
      command: process.execPath,
      args: ["--import", "tsx", "src/bin.ts", "serve-fdv2", "--port", String(port), "--flags", flagsFile],
      cwd: appDir
    })
    const url = `http://127.0.0.1:${port}`
    yield* upstream.awaitReady(`${url}/healthz`, { timeout: "60 seconds" })
    return { process: upstream, url }
  })

const getJson = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url)
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  })

const send = (method: "PUT" | "POST", url: string, body: unknown) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, { method, body: JSON.stringify(body) })
    return { status: response.status, text: await response.text() }
  })

/** Retries `check` every 50 ms for up to 30 s. */
const eventually = <A, E>(check: Effect.Effect<A, E>) =>
  Effect.retry(check, Schedule.spaced("50 millis").pipe(Schedule.upTo("30 seconds")))

const expectThat = (condition: boolean, what: string) =>
  condition ? Effect.void : Effect.fail(new Error(`not yet: ${what}`))

interface SseEvent {
  readonly event: string
  readonly data: unknown
}

/** Opens `/flags/stream` and returns a reader of its events. */
const openStream = (url: string) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const controller = new AbortController()
      const response = await fetch(url, { signal: controller.signal })
      const reader = (response.body as ReadableStream<Uint8Array>).getReader()
      const decoder = new TextDecoder()
      let buffer = ""
      const next = async (): Promise<SseEvent> => {
        for (;;) {
          const end = buffer.indexOf("\n\n")
          if (end !== -1) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            const lines = block.split("\n")
            const event =
              lines
                .find((line) => line.startsWith("event:"))
                ?.slice(6)
                .trim() ?? "message"
            const data = lines
              .filter((line) => line.startsWith("data:"))
              .map((line) => line.slice(5).trimStart())
              .join("\n")
            return { event, data: JSON.parse(data) as unknown }
          }
          const chunk = await reader.read()
          if (chunk.done) throw new Error("the stream ended")
          buffer += decoder.decode(chunk.value, { stream: true })
        }
      }
      return { next: Effect.promise(next).pipe(Effect.timeout("30 seconds")), controller }
    }),
    ({ controller }) => Effect.sync(() => controller.abort())
  )

const startRelay = (options: Relay.RunOptions) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(Relay.layerFromOptions(options), scope)
    return { relay: Context.get(context, Relay.Relay), close: Scope.close(scope, Exit.void) }
  })

describe("the relay end to end over real HTTP against serve-fdv2", () => {
  it.live(
    "serves and streams flags, keeps serving through a killed upstream, restarts from the cache",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "flag-relay-"))
          const flagsFile = join(dir, "flags.json")
          const cacheFile = join(dir, "cache.json")
          writeFileSync(flagsFile, JSON.stringify({ flags: { alpha: { on: true } } }))
          const upstream = yield* startUpstream(flagsFile, yield* freePort)
          const first = yield* startRelay({ upstream: upstream.url, port: 0, statusPort: 0, cacheFile })
          const { url, statusUrl } = first.relay

          // Flags appear on GET /flags and GET /flags/:key.
          yield* eventually(
            Effect.flatMap(getJson(`${url}/flags`), ({ body }) =>
              expectThat(
                JSON.stringify(body.flags) === JSON.stringify({ alpha: { on: true } }),
                "alpha served"
              )
            )
          )
          expect((yield* getJson(`${url}/flags/alpha`)).body).toMatchObject({
            key: "alpha",
            value: { on: true }
          })
          expect((yield* getJson(`${url}/flags/missing`)).status).toBe(404)
          const ready = yield* Effect.promise(() => fetch(`${statusUrl}/readyz`))
          expect(ready.status).toBe(200)

          // Changes stream on /flags/stream.
          const stream = yield* openStream(`${url}/flags/stream`)
          const snapshot = yield* stream.next
          expect(snapshot.event).toBe("flags")
          expect(snapshot.data).toMatchObject({ flags: { alpha: { on: true } } })
          yield* send("PUT", `${upstream.url}/admin/flags/gamma`, { on: true })
          const change = yield* stream.next
          expect(change.event).toBe("change-set")
          expect(change.data).toMatchObject({
            type: "partial",
            source: "streaming",
            updates: [{ op: "put", kind: "flag", key: "gamma", object: { on: true } }]
          })
          const metrics = yield* Effect.promise(() => fetch(`${statusUrl}/metrics`).then((r) => r.text()))
          expect(metrics).toMatch(/converge_flags_change_sets_applied_total\{[^}]*source="streaming"/)
          const status = (yield* getJson(`${statusUrl}/status`)).body
          expect(status).toMatchObject({
            initialized: true,
            mode: "streaming",
            dataFrom: "streaming",
            flags: 2
          })
          expect(status.data).toMatchObject({ state: "valid" })

          // A killed upstream: interrupted, and the last flags are still served.
          yield* upstream.process.kill("SIGKILL")
          yield* eventually(
            Effect.flatMap(getJson(`${statusUrl}/status`), ({ body }) =>
              expectThat(
                (body.data as { state: string }).state === "interrupted",
                `interrupted (${JSON.stringify(body.data)})`
              )
            )
          )
          const served = (yield* getJson(`${url}/flags`)).body
          expect(served.flags).toEqual({ alpha: { on: true }, gamma: { on: true } })
          const interrupted = (yield* getJson(`${statusUrl}/status`)).body.data as {
            error?: { category: string }
          }
          expect(interrupted.error?.category).toBe("network-error")
          yield* first.close

          // A restarted relay with the upstream still down serves the cached flags and says so.
          const second = yield* startRelay({ upstream: upstream.url, port: 0, statusPort: 0, cacheFile })
          yield* eventually(
            Effect.flatMap(getJson(`${second.relay.url}/flags`), ({ body }) =>
              expectThat(Object.keys(body.flags as object).length === 2, "cached flags served")
            )
          )
          expect((yield* getJson(`${second.relay.url}/flags`)).body.flags).toEqual({
            alpha: { on: true },
            gamma: { on: true }
          })
          const restarted = (yield* getJson(`${second.relay.statusUrl}/status`)).body
          expect(restarted).toMatchObject({ initialized: true, dataFrom: "cache-file", flags: 2 })
          // Still initializing from the upstream's point of view, with the reason it cannot get there.
          expect(restarted.data).toMatchObject({
            state: "initializing",
            error: { category: "network-error" }
          })
          expect((yield* Effect.promise(() => fetch(`${second.relay.statusUrl}/readyz`))).status).toBe(200)
          yield* second.close
        })
      ),
    timeout
  )

  it.live(
    "PUT /mode and PUT /signals feed the mode signals; bad bodies get a 400 naming the field",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "flag-relay-"))
          const flagsFile = join(dir, "flags.json")
          writeFileSync(flagsFile, JSON.stringify({ flags: { alpha: { on: true } } }))
          const upstream = yield* startUpstream(flagsFile, yield* freePort)
          const relay = yield* startRelay({
            upstream: upstream.url,
            port: 0,
            statusPort: 0,
            cacheFile: join(dir, "cache.json")
          })
          const { url } = relay.relay
          expect((yield* send("PUT", `${url}/mode`, { mode: "offline" })).status).toBe(202)
          const offline = (yield* getJson(`${url}/mode`)).body
          expect(offline).toMatchObject({ mode: "offline", offlineDetail: "setOffline", override: "offline" })
          expect((yield* send("PUT", `${url}/mode`, { mode: null })).status).toBe(202)
          yield* eventually(
            Effect.flatMap(getJson(`${url}/mode`), ({ body }) =>
              expectThat(body.mode === "streaming", "streaming")
            )
          )
          expect((yield* send("PUT", `${url}/signals`, { networkAvailable: false })).status).toBe(202)
          yield* eventually(
            Effect.flatMap(getJson(`${url}/mode`), ({ body }) =>
              expectThat(body.offlineDetail === "networkUnavailable", "offline: network unavailable")
            )
          )
          const bad = yield* send("PUT", `${url}/mode`, { mode: "sideways" })
          expect(bad.status).toBe(400)
          expect(bad.text).toContain("mode")
          const badSignals = yield* send("PUT", `${url}/signals`, { inForeground: "yes" })
          expect(badSignals.status).toBe(400)
          expect(badSignals.text).toContain("inForeground")
          yield* relay.close
        })
      ),
    timeout
  )
})

describe("the relay and the FDv1 fallback directive over real HTTP", () => {
  it.live(
    "a directive on a reconnect engages FDv1 polling; flags keep flowing over FDv1",
    () =>
      Effect.scoped(
        Effect.gen(function* () {
          const dir = mkdtempSync(join(tmpdir(), "flag-relay-"))
          const flagsFile = join(dir, "flags.json")
          const configFile = join(dir, "relay.yaml")
          writeFileSync(flagsFile, JSON.stringify({ flags: { alpha: { on: true } } }))
          writeFileSync(configFile, "pollIntervalSeconds: 1\nrecycleDelayMs: 100\n")
          const upstream = yield* startUpstream(flagsFile, yield* freePort)
          const relay = yield* startRelay({
            upstream: upstream.url,
            configFile,
            port: 0,
            statusPort: 0,
            cacheFile: join(dir, "cache.json")
          })
          const { url, statusUrl } = relay.relay
          yield* eventually(
            Effect.flatMap(getJson(`${statusUrl}/status`), ({ body }) =>
              expectThat((body.data as { state: string }).state === "valid", "valid")
            )
          )
          yield* send("POST", `${upstream.url}/admin/faults/fallback-header`, { ttlSeconds: 0, count: 1 })
          yield* send("PUT", `${upstream.url}/admin/flags/beta`, { on: true })
          yield* send("POST", `${upstream.url}/admin/faults/drop`, {})
          yield* eventually(
            Effect.flatMap(getJson(`${statusUrl}/status`), ({ body }) =>
              expectThat(body.dataFrom === "fdv1-polling", `FDv1 engaged (${JSON.stringify(body)})`)
            )
          )
          // Later changes arrive over FDv1 (the orchestrator tests prove the payload is applied first).
          yield* send("PUT", `${upstream.url}/admin/flags/gamma`, { on: true })
          yield* eventually(
            Effect.flatMap(getJson(`${url}/flags`), ({ body }) =>
              expectThat(Object.keys(body.flags as object).includes("gamma"), "gamma over FDv1")
            )
          )
          const flags = (yield* getJson(`${url}/flags`)).body.flags as Record<string, unknown>
          expect(Object.keys(flags).sort()).toEqual(["alpha", "beta", "gamma"])
          yield* relay.close
        })
      ),
    timeout
  )
})

describe("the relay config file", () => {
  it("parses YAML and JSON with defaults", () => {
    const yaml = RelayConfig.parse("relay.yaml", "upstream: http://127.0.0.1:8030\nmode: polling\n")
    expect(yaml._tag).toBe("Right")
    if (yaml._tag === "Right") {
      expect(yaml.right).toMatchObject({
        mode: "polling",
        fallbackTimeoutSeconds: 120,
        recoveryStart: "run-start"
      })
    }
    const json = RelayConfig.parse("relay.json", '{"runInBackground": true, "recoveryStart": "valid-window"}')
    expect(json._tag === "Right" && json.right.runInBackground).toBe(true)
  })

  it("a bad file is a clear error naming the file and the field", () => {
    const cases: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
      ["fallbackTimeoutSeconds: -1", ["relay.yaml", "fallbackTimeoutSeconds", "seconds"]],
      ["mode: sideways", ["mode"]],
      ["port: 70000", ["port", "65535"]],
      ["upstreem: http://x", ["upstreem", "not a known field"]],
      ["upstream: not a url", ["upstream", "absolute URL"]],
      ["{ mode: [", ["neither valid YAML nor JSON"]]
    ]
    for (const [text, fragments] of cases) {
      const parsed = RelayConfig.parse("relay.yaml", text)
      expect(parsed._tag).toBe("Left")
      if (parsed._tag === "Left")
        for (const fragment of fragments) expect(parsed.left.message).toContain(fragment)
    }
  })

  it.effect("a missing file is a clear error naming it", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        Relay.resolveConfig({ configFile: "/nonexistent/relay.yaml" }).pipe(
          Effect.provide(NodeFileSystem.layer)
        )
      )
      expect(error.message).toContain("/nonexistent/relay.yaml cannot be read")
    })
  )

  it.effect("no upstream anywhere is a clear error", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(Relay.resolveConfig({}).pipe(Effect.provide(NodeFileSystem.layer)))
      expect(error.message).toContain("--upstream")
    })
  )
})
