import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { describe, expect, layer } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Schedule, Stream } from "effect"

const appDir = fileURLToPath(new URL("..", import.meta.url))
const directory = mkdtempSync(join(tmpdir(), "converge-instances-"))
const write = (name: string, text: string) => {
  const path = join(directory, name)
  writeFileSync(path, text)
  return path
}

const converge = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  ProcessHarness.start({
    command: process.execPath,
    args: ["--import", "tsx", "src/bin.ts", ...args],
    cwd: appDir,
    env
  })

/** Runs a one-shot command to its end: its exit code and output. */
const oneShot = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.gen(function* () {
    const child = yield* converge(args, env)
    const lines = yield* Effect.fork(Stream.runCollect(child.output))
    const exit = yield* child.exit.pipe(Effect.timeout("60 seconds"))
    const output = Chunk.toReadonlyArray(yield* Fiber.join(lines))
      .map((line) => line.text)
      .join("\n")
    return { code: exit.code, output }
  })

const urlAfter = (child: ProcessHarness.RunningProcess, label: string) =>
  child.output.pipe(
    Stream.filterMap((line) =>
      Option.fromNullable(new RegExp(`^\\s*${label}\\s+(http://127\\.0\\.0\\.1:\\d+)`).exec(line.text)?.[1])
    ),
    Stream.runHead,
    Effect.flatten,
    Effect.timeout("90 seconds")
  )

describe("converge-instances", () => {
  layer(TestDatabase.layer, { excludeTestServices: true, timeout: 180_000 })("the binary", (it) => {
    it.scoped("validate-config accepts a good file and explains a bad one (exit 1)", () =>
      Effect.gen(function* () {
        const good = write("good.yaml", "groups:\n  - { key: web, desiredSize: 2 }\n")
        const bad = write(
          "bad.yaml",
          "groups:\n  - { key: web, desiredSize: 1, expiry: { eligibleAge: 2h, forcedAge: 1h } }\n"
        )
        const accepted = yield* oneShot(["validate-config", "-c", good])
        expect(accepted.code).toBe(0)
        expect(accepted.output).toContain("is valid: 1 group(s)")
        const refused = yield* oneShot(["validate-config", "-c", bad])
        expect(refused.code).toBe(1)
        expect(refused.output).toContain("groups[0].expiry.eligibleAge")
        expect(refused.output).toContain("lower eligibleAge or raise forcedAge")
        const help = yield* oneShot(["groups", "set", "--help"])
        expect(help.code).toBe(0)
        expect(help.output).toContain("--api-url")
      })
    )

    it.scoped(
      "run: converges the configured groups, resizes through the API and the CLI, stops on Ctrl-C",
      () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          const env = { DATABASE_URL: database.url }
          const config = write("run.yaml", "groups:\n  - { key: web, desiredSize: 2, healthInterval: 10s }\n")
          const manager = yield* converge(["run", "-c", config, "--port", "0", "--status-port", "0"], env)
          const api = yield* urlAfter(manager, "api")
          const status = yield* urlAfter(manager, "status")
          yield* manager.awaitReady(`${status}/readyz`, { timeout: "90 seconds" })
          const actualOf = Effect.promise(() =>
            fetch(`${status}/status`).then(
              (response) =>
                response.json() as Promise<{ groups: Record<string, { actual: number; desired: number }> }>
            )
          )
          const awaitActual = (size: number) =>
            actualOf.pipe(
              Effect.filterOrFail(
                (body) => body.groups["default/web"]?.actual === size,
                () => "not yet"
              ),
              Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo("60 seconds")))
            )
          yield* awaitActual(2)
          const set = yield* oneShot(["groups", "set", "web", "4", "--api-url", api], env)
          expect(set.code).toBe(0)
          expect(set.output).toContain('"desiredSize": 4')
          yield* awaitActual(4)
          const listed = yield* oneShot(["groups", "list"], env)
          expect(listed.output).toContain('"key": "web"')
          const unknown = yield* oneShot(["drain-ack", "nope", "--api-url", api], env)
          expect(unknown.code).toBe(1)
          expect(unknown.output).toContain('No live instance "nope"')
          const exit = yield* manager.kill("SIGINT")
          expect(exit.code === 0 || exit.signal === "SIGINT").toBe(true)
        })
    )
  })
})
