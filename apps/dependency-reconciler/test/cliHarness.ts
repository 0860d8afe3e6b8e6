import { fileURLToPath } from "node:url"
import { ProcessHarness } from "@converge/testing"
import { Chunk, Effect, Option, Stream } from "effect"

/** The app's directory, where `src/bin.ts` lives. */
export const appDir = fileURLToPath(new URL("..", import.meta.url))

/** What a finished CLI run printed and how it ended. */
export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `converge-deps ARGS` as a real child process to its end (at most two minutes). */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  Effect.scoped(
    Effect.gen(function* () {
      const child = yield* ProcessHarness.start({
        command: process.execPath,
        args: ["--import", "tsx", "src/bin.ts", ...args],
        cwd: appDir,
        env: { NO_COLOR: "1", ...env }
      })
      const lines = yield* Stream.runCollect(child.output)
      const exit = yield* child.exit
      const text = (stream: "stdout" | "stderr") =>
        Chunk.toReadonlyArray(lines)
          .filter((line) => line.stream === stream)
          .map((line) => line.text)
          .join("\n")
      return { code: exit.code, stdout: text("stdout"), stderr: text("stderr") } satisfies CliResult
    })
  ).pipe(Effect.timeout("120 seconds"), Effect.orDie)

/** A `converge-deps run` child process and the URLs it printed. */
export interface RunningEngine {
  readonly process: ProcessHarness.RunningProcess
  readonly apiUrl: string
  readonly statusUrl: string
}

const printedUrl = (process: ProcessHarness.RunningProcess, label: RegExp) =>
  process.output.pipe(
    Stream.filterMap((line) => Option.fromNullable(label.exec(line.text)?.[1])),
    Stream.runHead,
    Effect.flatten,
    Effect.timeout("120 seconds"),
    Effect.orDie
  )

/** Starts `converge-deps run --port 0 --status-port 0 ARGS` and waits until it is ready. */
export const startRun = (args: ReadonlyArray<string>, env: Record<string, string>) =>
  Effect.gen(function* () {
    const child = yield* ProcessHarness.start({
      command: process.execPath,
      args: ["--import", "tsx", "src/bin.ts", "run", "--port", "0", "--status-port", "0", ...args],
      cwd: appDir,
      env: { NO_COLOR: "1", ...env }
    }).pipe(Effect.orDie)
    const apiUrl = yield* printedUrl(child, /^\s+api\s+(http:\/\/\S+)/)
    const statusUrl = yield* printedUrl(child, /^\s+status\s+(http:\/\/\S+)\/status/)
    yield* child.awaitReady(`${statusUrl}/readyz`, { timeout: "60 seconds" }).pipe(Effect.orDie)
    return { process: child, apiUrl, statusUrl } satisfies RunningEngine
  })

/** POSTs or GETs JSON on a running engine's API. */
export const callApi = (
  engine: { readonly apiUrl: string },
  method: "GET" | "POST",
  path: string,
  body?: unknown
) =>
  Effect.promise(async () => {
    const response = await fetch(`${engine.apiUrl}${path}`, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, body: (await response.json()) as unknown }
  })
