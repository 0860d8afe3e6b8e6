import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"

const fixture = fileURLToPath(new URL("./fixtures/graceful-main.ts", import.meta.url))

interface Fixture {
  readonly child: ChildProcess
  readonly output: ReadonlyArray<string>
  /** Waits until the fixture has printed `line`. */
  readonly printed: (line: string) => Effect.Effect<void>
}

/** Starts the fixture (killed when the scope closes) and waits until it printed "ready". */
const startFixture = Effect.acquireRelease(
  Effect.sync((): Fixture => {
    const child = spawn(process.execPath, ["--import", "tsx", fixture], {
      stdio: ["ignore", "pipe", "inherit"]
    })
    const output: Array<string> = []
    child.stdout?.on("data", (chunk: Buffer) => {
      output.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((line) => line.length > 0)
      )
      child.emit("printed")
    })
    const printed = (line: string) =>
      Effect.async<void>((resume) => {
        const check = () => {
          if (!output.includes(line)) return
          child.off("printed", check)
          resume(Effect.void)
        }
        child.on("printed", check)
        check()
      })
    return { child, output, printed }
  }),
  ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
).pipe(Effect.tap((fixture) => fixture.printed("ready")))

const exitOf = (child: ChildProcess) =>
  Effect.async<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>((resume) => {
    child.once("exit", (code, signal) => resume(Effect.succeed({ code, signal })))
  })

describe("NodeMain.runMain", () => {
  it.scopedLive(
    "a signal re-delivered during shutdown (as npm and tsx do on Ctrl-C) does not cut it short",
    () =>
      Effect.gen(function* () {
        const { child, output, printed } = yield* startFixture
        const exited = exitOf(child)
        child.kill("SIGTERM")
        yield* printed("finalizing")
        child.kill("SIGTERM")
        const exit = yield* exited.pipe(Effect.timeout("30 seconds"))
        expect(exit).toEqual({ code: 0, signal: null })
        expect(output).toContain("finalized")
      }),
    // Starting a TypeScript child through tsx takes seconds on a loaded machine.
    60_000
  )
})
