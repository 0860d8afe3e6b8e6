import { fileURLToPath } from "node:url"
import { ManagerStatus } from "@converge/instance-manager"
import { ProcessHarness } from "@converge/testing"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Option, Schedule, Schema, Stream } from "effect"
import * as InstancesScenario from "../src/InstancesScenario.js"

const playgroundDir = fileURLToPath(new URL("..", import.meta.url))

const fetchText = (url: string) => Effect.tryPromise(() => fetch(url).then((response) => response.text()))

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** The index of the first line matching `pattern` at or after `from`, or -1. */
const indexOf = (lines: ReadonlyArray<string>, pattern: RegExp, from = 0) => {
  const found = lines.slice(from).findIndex((line) => pattern.test(line))
  return found < 0 ? -1 : from + found
}

describe("playground instances", () => {
  it.live(
    "instances --once: the manager converges three groups through a mass failure, silent agents (breaker), a termination notice, a resize and a drift rotation, then exits 0",
    () =>
      Effect.gen(function* () {
        const demo = yield* ProcessHarness.start({
          command: process.execPath,
          args: [
            "--import",
            "tsx",
            "src/bin.ts",
            "instances",
            "--once",
            "--pace",
            "0.2",
            "--port",
            "0",
            "--status-port",
            "0"
          ],
          cwd: playgroundDir
        })
        const statusUrl = yield* demo.output.pipe(
          Stream.filterMap((line) =>
            Option.fromNullable(/^\s+status\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(line.text)?.[1])
          ),
          Stream.runHead,
          Effect.flatten,
          Effect.timeout("90 seconds")
        )

        // While the silent agents are replaced, /metrics counts the replacements by reason and
        // /status shows web's breaker open.
        const observed = yield* Effect.fork(
          Effect.gen(function* () {
            const metrics = yield* fetchText(`${statusUrl}/metrics`).pipe(
              Effect.filterOrFail((text) =>
                /converge_instances_replacements_total\{[^}]*reason="missed-health-reports"[^}]*\} [1-9]/.test(
                  text
                )
              ),
              Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.upTo("150 seconds")))
            )
            const status = yield* fetchText(`${statusUrl}/status`).pipe(
              Effect.flatMap((text) =>
                Schema.decodeUnknown(Schema.parseJson(ManagerStatus.ManagerStatus))(text)
              )
            )
            return { metrics, status }
          })
        )

        const exit = yield* demo.exit.pipe(Effect.timeout("200 seconds"))
        const lines = Chunk.toReadonlyArray(yield* Stream.runCollect(demo.output)).map((line) => line.text)
        const output = lines.join("\n")
        expect(exit.code, output).toBe(0)

        // Every step ran, in order, and settled before the next one started.
        let cursor = indexOf(lines, /scenario: start — every group converged/)
        expect(cursor, output).toBeGreaterThanOrEqual(0)
        const stepStarts: Array<number> = []
        for (const [index, step] of InstancesScenario.steps.entries()) {
          const started = indexOf(
            lines,
            new RegExp(`scenario: ${index + 1}\\. ${escapeRegExp(step.description)}`),
            cursor
          )
          const settled = indexOf(lines, new RegExp(`scenario: ${index + 1}\\. settled`), started)
          expect(started, `step ${index + 1}\n${output}`).toBeGreaterThan(cursor)
          expect(settled, `step ${index + 1}\n${output}`).toBeGreaterThan(started)
          stepStarts.push(started)
          cursor = settled
        }
        expect(indexOf(lines, /scenario: done — every group converged/, cursor), output).toBeGreaterThan(
          cursor
        )

        const between = (step: number) => lines.slice(stepStarts[step - 1], stepStarts[step] ?? lines.length)
        // 1. The mass failure shows as web's healthy count dropping, then back at 4.
        expect(
          between(1).some((line) => /instances: .*web 4\/\d\/[0-3]\/\d/.test(line)),
          output
        ).toBe(true)
        // 2. Silent agents: drains for missed reports, the breaker open while the budget is used up.
        expect(
          between(2).filter((line) => /event: drain web\/\S+ \(missed-health-reports\)/.test(line)).length
        ).toBe(3)
        expect(
          between(2).some((line) => /web 4\/\d\/\d\/\d breaker OPEN/.test(line)),
          output
        ).toBe(true)
        // 3. The termination notice: a drain of an api instance, acknowledged by its agent.
        expect(
          between(3).some((line) => /event: drain api\/\S+ \(termination-notice\)/.test(line)),
          output
        ).toBe(true)
        expect(
          between(3).some((line) => /event: drain of api\/\S+ acknowledged/.test(line)),
          output
        ).toBe(true)
        // 4 and 5. The resize and the drift rotation: three drift drains, one per api instance.
        expect(
          between(4).some((line) => /batch 4\/\d\/\d\/\d/.test(line)),
          output
        ).toBe(true)
        expect(between(5).filter((line) => /event: drain api\/\S+ \(drift\)/.test(line)).length).toBe(3)
        // At the end, every group at its (new) desired size and healthy, with no error.
        const last = lines.filter((line) => line.includes("scenario: 5. settled")).at(-1)
        expect(last).toMatch(
          /api 3\/3\/3\/0 · batch 4\/4\/4\/0 · web 4\/4\/4\/0 · leader term \d+ · errors 0/
        )

        const { metrics, status } = yield* Fiber.join(observed)
        expect(metrics).toMatch(/converge_instances_creates_total\{[^}]*group="web"[^}]*\} \d+/)
        expect(metrics).toMatch(/converge_instances_lost_total\{[^}]*state="failed"[^}]*\} 3/)
        expect(metrics).toMatch(/converge_instances_leader 1/)
        expect(status.leader).toBe(true)
        expect(Object.keys(status.groups).sort()).toEqual(["default/api", "default/batch", "default/web"])
      }).pipe(Effect.scoped),
    240_000
  )
})
