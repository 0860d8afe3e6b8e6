import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { ProcessHarness, TestDatabase } from "@converge/testing"
import { SqlClient } from "@effect/sql"
import { describe, expect, it, layer } from "@effect/vitest"
import { Chunk, Duration, Effect, Option, Schedule, Schema, Stream } from "effect"
import { PlaygroundStatus } from "../src/PlaygroundStatus.js"

const playgroundDir = fileURLToPath(new URL("..", import.meta.url))
const repositoryRoot = fileURLToPath(new URL("../../..", import.meta.url))

/** The playground exactly as the README starts it: `npm start`, from the repository root. */
const npmStart = (args: ReadonlyArray<string>) =>
  ProcessHarness.start({ command: "npm", args: ["start", "--", "--port", "0", ...args], cwd: repositoryRoot })

/** The playground's binary run directly, with the given environment. */
const startPlayground = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  ProcessHarness.start({
    command: process.execPath,
    args: ["--import", "tsx", "src/bin.ts", "--port", "0", ...args],
    cwd: playgroundDir,
    env
  })

/** The first `http://127.0.0.1:PORT` the playground prints: its status server, as the README promises. */
const firstHttpUrl = (process: ProcessHarness.RunningProcess) =>
  process.output.pipe(
    Stream.filterMap((line) => Option.fromNullable(/http:\/\/127\.0\.0\.1:\d+/.exec(line.text)?.[0])),
    Stream.runHead,
    Effect.flatten,
    Effect.timeout("60 seconds")
  )

const fetchStatus = (url: string) =>
  Effect.tryPromise(() => fetch(`${url}/status`).then((response) => response.json())).pipe(
    Effect.flatMap(Schema.decodeUnknown(PlaygroundStatus))
  )

/** Polls the real process's /status (for at most a minute) until `done` holds. */
const awaitStatus = (url: string, done: (status: PlaygroundStatus) => boolean) =>
  fetchStatus(url).pipe(
    Effect.filterOrFail(done),
    Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 300 })
  )

describe("playground", () => {
  it.live(
    "npm start: boots embedded Postgres, converges despite injected failures, stops cleanly on Ctrl-C",
    () =>
      Effect.gen(function* () {
        const playground = yield* npmStart([
          "--items",
          "30",
          "--failure-rate",
          "0.3",
          "--churn-every-ms",
          "0"
        ])
        const url = yield* firstHttpUrl(playground)
        yield* playground.awaitReady(`${url}/readyz`)
        // Converged, after injected failures were retried.
        const status = yield* awaitStatus(url, (status) => status.converged && status.reconciles.failed > 0)
        expect(status.desired).toBe(30)
        expect(status.actual).toBe(30)
        expect(status.database).toContain("embedded")

        const metrics = yield* Effect.promise(() =>
          fetch(`${url}/metrics`).then((response) => response.text())
        )
        expect(metrics).toMatch(/converge_reconcile_total\{controller="playground",result="error"\} [1-9]/)

        const dataDir = yield* playground.output.pipe(
          Stream.filterMap((line) => Option.fromNullable(/dataDir: (\S+)/.exec(line.text)?.[1])),
          Stream.runHead,
          Effect.flatten
        )
        // Ctrl-C through npm delivers the signal more than once; the shutdown must still complete.
        yield* playground.kill("SIGINT")
        const output = yield* playground.recentOutput
        expect(output.some((line) => line.text.includes("Embedded Postgres stopped"))).toBe(true)
        expect(existsSync(dataDir)).toBe(false)
      }).pipe(Effect.scoped)
  )

  it.live("rejects a bad option with a clear message and exit code 1, starting nothing", () =>
    Effect.gen(function* () {
      const playground = yield* startPlayground(["--items", "0"], {})
      const exit = yield* playground.exit
      const output = yield* playground.recentOutput
      expect(exit.code).toBe(1)
      expect(output.map((line) => line.text)).toContain("must be from 1 to 999")
      expect(output.some((line) => line.text.includes("Embedded Postgres"))).toBe(false)
    }).pipe(Effect.scoped)
  )

  it.live(
    "--help lists the deps and flags subcommands, and each subcommand has its own --help",
    () =>
      Effect.gen(function* () {
        const helpOf = (args: ReadonlyArray<string>) =>
          Effect.gen(function* () {
            const help = yield* ProcessHarness.start({
              command: process.execPath,
              args: ["--import", "tsx", "src/bin.ts", ...args, "--help"],
              cwd: playgroundDir
            })
            const exit = yield* help.exit
            const text = Chunk.toReadonlyArray(yield* Stream.runCollect(help.output))
              .map((line) => line.text)
              .join("\n")
            expect(exit.code, text).toBe(0)
            return text
          }).pipe(Effect.scoped)
        const [root, deps, flags] = yield* Effect.all([helpOf([]), helpOf(["deps"]), helpOf(["flags"])], {
          concurrency: "unbounded"
        })
        expect(root).toMatch(/- deps \[/)
        expect(root).toMatch(/- flags \[/)
        expect(root).toContain("--items")
        expect(deps).toContain("--failure-rate")
        expect(deps).toContain("--database-url")
        expect(deps).not.toContain("--items")
        expect(flags).toContain("--once")
        expect(flags).toContain("--pace")
      }),
    120_000
  )

  layer(TestDatabase.layer, { timeout: Duration.minutes(1), excludeTestServices: true })(
    "with DATABASE_URL",
    (it) => {
      it.effect("uses the given database and keeps it converged while the desired set churns", () =>
        Effect.gen(function* () {
          const database = yield* TestDatabase.TestDatabase
          const playground = yield* startPlayground(["--items", "20", "--churn-every-ms", "100"], {
            DATABASE_URL: database.url
          })
          const url = yield* firstHttpUrl(playground)
          yield* playground.awaitReady(`${url}/readyz`)
          // Each churn (every 100 ms) changes three ids and triggers their reconciles; 20 more
          // successes than the initial 20 means churn drove the controller, and it still converges.
          yield* awaitStatus(url, (status) => status.converged && status.reconciles.succeeded >= 40)

          const sql = yield* SqlClient.SqlClient
          const [actual] = yield* sql<{ count: number }>`SELECT count(*)::int AS count FROM playground_actual`
          expect(actual?.count).toBeGreaterThan(0)
          const exit = yield* playground.kill("SIGTERM")
          expect(exit.code).toBe(0)
        }).pipe(Effect.scoped)
      )
    }
  )
})
