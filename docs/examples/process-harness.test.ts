/**
 * An end-to-end test of a real program: start it as a child process, find its status server in
 * its output, wait for `/readyz`, check `/status`, and SIGKILL it.
 */
import { ProcessHarness } from "@converge/testing"
import { expect, it } from "@effect/vitest"
import { Effect, Option, Stream } from "effect"

it.live(
  "the orders program serves its status and dies on SIGKILL",
  () =>
    Effect.gen(function* () {
      const app = yield* ProcessHarness.start({
        command: process.execPath,
        args: ["--import", "tsx", "examples/status-server-main.ts"],
        env: { CONVERGE_HTTP_PORT: "0" }
      })
      const url = yield* app.output.pipe(
        Stream.filterMap((line) =>
          Option.fromNullable(/listening on (http:\/\/[\d.:]+)/.exec(line.text)?.[1])
        ),
        Stream.runHead,
        Effect.flatten
      )
      yield* app.awaitReady(`${url}/readyz`, { timeout: "30 seconds" })

      const status = yield* Effect.promise(() => fetch(`${url}/status`).then((response) => response.json()))
      expect(status).toMatchObject({ reconciled: 3, failed: 0 })

      const exit = yield* app.kill()
      expect(exit.signal).toBe("SIGKILL")
    }).pipe(Effect.scoped),
  60_000
)
