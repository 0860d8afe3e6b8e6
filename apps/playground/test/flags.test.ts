import { fileURLToPath } from "node:url"
import { SampleScenario } from "@converge/flag-orchestrator"
import { ProcessHarness } from "@converge/testing"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"

const playgroundDir = fileURLToPath(new URL("..", import.meta.url))

describe("playground flags", () => {
  it.live(
    "flags --once: the relay follows the local FDv2 server through every scenario step and fault, then the process exits 0",
    () =>
      Effect.gen(function* () {
        const flags = yield* ProcessHarness.start({
          command: process.execPath,
          args: [
            "--import",
            "tsx",
            "src/bin.ts",
            "flags",
            "--once",
            "--pace",
            "0.2",
            "--port",
            "0",
            "--status-port",
            "0",
            "--server-port",
            "0"
          ],
          cwd: playgroundDir
        })
        const exit = yield* flags.exit.pipe(Effect.timeout("200 seconds"))
        const lines = Chunk.toReadonlyArray(yield* Stream.runCollect(flags.output)).map((line) => line.text)
        expect(exit.code, lines.join("\n")).toBe(0)

        // Every step of the scenario was run and printed, in order.
        const stepLines = SampleScenario.steps.map((step) =>
          lines.findIndex((line) => line.includes(`scenario: ${step.description}`))
        )
        expect(
          stepLines.every((index) => index >= 0),
          lines.join("\n")
        ).toBe(true)
        expect([...stepLines].sort((a, b) => a - b)).toEqual(stepLines)

        // What the relay served along the way: the initial flags, an interruption from the faults,
        // and at the end the scenario's final flags, which are the server's latest.
        const relayLines = lines.filter((line) => line.includes("relay: GET /flags"))
        expect(relayLines.some((line) => line.includes('{"new-checkout":{"on":false}}'))).toBe(true)
        expect(relayLines.some((line) => line.includes("status interrupted"))).toBe(true)
        expect(relayLines.some((line) => line.includes('"dark-mode":{"on":true}'))).toBe(true)
        expect(relayLines.at(-1)).toContain('GET /flags {"new-checkout":{"on":true,"rollout":100}}')
        expect(lines).toContainEqual(expect.stringMatching(/the relay serves the server's latest flags/))
      }).pipe(Effect.scoped),
    240_000
  )
})
