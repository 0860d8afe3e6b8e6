import { fileURLToPath } from "node:url"
import { ProcessHarness } from "@converge/testing"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schedule, Schema, Stream } from "effect"
import { DepsStatus } from "../src/DepsStatus.js"

const repositoryRoot = fileURLToPath(new URL("../../..", import.meta.url))

/** The URL printed on the line starting with `label` (e.g. `status`, `api`) of the startup banner. */
const printedUrl = (process: ProcessHarness.RunningProcess, label: string) =>
  process.output.pipe(
    Stream.filterMap((line) =>
      Option.fromNullable(new RegExp(`^\\s+${label}\\s+(http://127\\.0\\.0\\.1:\\d+)`).exec(line.text)?.[1])
    ),
    Stream.runHead,
    Effect.flatten,
    Effect.timeout("90 seconds")
  )

const fetchStatus = (statusUrl: string) =>
  Effect.tryPromise(() => fetch(`${statusUrl}/status`).then((response) => response.json())).pipe(
    Effect.flatMap(Schema.decodeUnknown(DepsStatus))
  )

describe("playground deps", () => {
  it.live(
    "npm start -- deps: the engine and API come up on embedded Postgres, the sample workload's executions complete and flows finish",
    () =>
      Effect.gen(function* () {
        const deps = yield* ProcessHarness.start({
          command: "npm",
          args: [
            "start",
            "--",
            "deps",
            "--port",
            "0",
            "--status-port",
            "0",
            "--failure-rate",
            "0.3",
            "--progress-every-ms",
            "1000"
          ],
          cwd: repositoryRoot
        })
        const statusUrl = yield* printedUrl(deps, "status")
        const apiUrl = yield* printedUrl(deps, "api")
        yield* deps.awaitReady(`${statusUrl}/readyz`, { timeout: "90 seconds" })

        // Simulated workers complete executions (some failing on purpose), and the engine's
        // cascade finishes whole flows.
        const status = yield* fetchStatus(statusUrl).pipe(
          Effect.filterOrFail(
            (status) =>
              (status.executions.succeeded ?? 0) > 0 &&
              (status.executions.failed ?? 0) > 0 &&
              status.flows.finished > 0
          ),
          Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo("90 seconds")))
        )
        expect(status.database).toContain("embedded")
        expect(status.engine.dispatcher).toBe("subscribed")
        expect(status.flows.created).toBeGreaterThanOrEqual(status.flows.finished)

        // The API answers (its OpenAPI document lists the flow endpoints).
        const openApi = yield* Effect.promise(() =>
          fetch(`${apiUrl}/openapi.json`).then((response) => response.text())
        )
        expect(openApi).toContain("/flows")

        // A progress line reports the same counts.
        const progress = yield* deps.output.pipe(
          Stream.filter((line) =>
            /^deps: flows \d+ created, [1-9]\d* finished · executions .*succeeded/.test(line.text)
          ),
          Stream.runHead,
          Effect.flatten,
          Effect.timeout("90 seconds")
        )
        expect(progress.text).toContain("dispatcher subscribed")

        // Ctrl-C stops the engine and the embedded Postgres cleanly.
        yield* deps.kill("SIGINT")
        const output = yield* deps.recentOutput
        expect(output.some((line) => line.text.includes("Embedded Postgres stopped"))).toBe(true)
      }).pipe(Effect.scoped),
    240_000
  )
})
