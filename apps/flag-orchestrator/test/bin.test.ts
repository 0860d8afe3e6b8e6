import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessHarness } from "@converge/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schedule, Stream } from "effect"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const timeout = 120_000

const converge = (args: ReadonlyArray<string>) =>
  ProcessHarness.start({
    command: process.execPath,
    args: ["--import", "tsx", "src/bin.ts", ...args],
    cwd: appDir
  })

/** The URL in the first line that contains `marker` and an http URL. */
const urlAfter = (process: ProcessHarness.RunningProcess, marker: string) =>
  process.output.pipe(
    Stream.filterMap((line) =>
      line.text.includes(marker)
        ? Option.fromNullable(/http:\/\/127\.0\.0\.1:\d+/.exec(line.text)?.[0])
        : Option.none()
    ),
    Stream.runHead,
    Effect.flatten,
    Effect.timeout("60 seconds")
  )

const json = (url: string) =>
  Effect.tryPromise(() =>
    fetch(url).then(async (response) => {
      if (!response.ok) throw new Error(`${url} answered ${response.status}`)
      return (await response.json()) as unknown
    })
  )

describe("converge-flags", () => {
  it.live(
    "--help lists both commands; each command has its own --help",
    () =>
      Effect.gen(function* () {
        for (const [args, expected] of [
          [["--help"], ["serve-fdv2", "relay"]],
          [
            ["serve-fdv2", "--help"],
            ["--flags", "--port", "/sdk/stream"]
          ],
          [
            ["relay", "--help"],
            ["--upstream", "--config", "--cache-file", "--status-port"]
          ]
        ] as const) {
          const run = yield* converge(args)
          const lines = yield* Stream.runCollect(run.output)
          const exit = yield* run.exit
          const text = Array.from(lines, (line) => line.text).join("\n")
          expect(exit.code).toBe(0)
          for (const word of expected) expect(text).toContain(word)
        }
      }).pipe(Effect.scoped),
    timeout
  )

  it.live(
    "serve-fdv2 --flags FILE serves the file; a bad file exits 1 with a clear message",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "converge-flags-"))
        const good = join(dir, "flags.json")
        writeFileSync(good, JSON.stringify({ flags: { banner: { on: true } } }))
        const server = yield* converge(["serve-fdv2", "--port", "0", "--flags", good])
        const url = yield* urlAfter(server, "FDv2 server listening")
        yield* server.awaitReady(`${url}/healthz`)
        expect(yield* json(`${url}/admin/flags`)).toMatchObject({ flags: { banner: { on: true } } })
        expect((yield* server.kill("SIGTERM")).code).toBe(0)

        const bad = join(dir, "bad.json")
        writeFileSync(bad, "{ flags: nope")
        const failing = yield* converge(["serve-fdv2", "--port", "0", "--flags", bad])
        const exit = yield* failing.exit
        expect(exit.code).toBe(1)
        const text = (yield* failing.recentOutput).map((line) => line.text).join("\n")
        expect(text).toContain(`Flags file ${bad} is not valid JSON`)
      }).pipe(Effect.scoped),
    timeout
  )

  it.live(
    "relay --upstream serves the upstream's flags on GET /flags and follows a change",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "converge-relay-"))
        const flags = join(dir, "flags.json")
        writeFileSync(flags, JSON.stringify({ flags: { banner: { on: true } } }))
        const server = yield* converge(["serve-fdv2", "--port", "0", "--flags", flags])
        const upstream = yield* urlAfter(server, "FDv2 server listening")
        const relay = yield* converge([
          "relay",
          "--upstream",
          upstream,
          "--port",
          "0",
          "--status-port",
          "0",
          "--cache-file",
          join(dir, "cache.json")
        ])
        const url = yield* urlAfter(relay, "Flag relay listening")
        const flagsOf = (predicate: (body: { flags: Record<string, unknown> }) => boolean) =>
          json(`${url}/flags`).pipe(
            Effect.map((body) => body as { flags: Record<string, unknown> }),
            Effect.filterOrFail(predicate),
            Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 })
          )
        yield* flagsOf((body) => "banner" in body.flags)
        yield* Effect.tryPromise(() =>
          fetch(`${upstream}/admin/flags/checkout`, { method: "PUT", body: JSON.stringify({ on: true }) })
        )
        const after = yield* flagsOf((body) => "checkout" in body.flags)
        expect(after.flags).toEqual({ banner: { on: true }, checkout: { on: true } })
        expect((yield* relay.kill("SIGTERM")).code).toBe(0)
      }).pipe(Effect.scoped),
    timeout
  )
})
