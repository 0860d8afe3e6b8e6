import * as Net from "node:net"
import * as Path from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope, Stream } from "effect"
import { ProcessHarness } from "../src/index.js"

const tsx = Path.resolve(import.meta.dirname, "../../../node_modules/.bin/tsx")
const readyServer = Path.join(import.meta.dirname, "fixtures", "ready-server.ts")

const freePort = Effect.async<number>((resume) => {
  const server = Net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const acceptsConnections = (port: number) =>
  Effect.async<boolean>((resume) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resume(Effect.succeed(true))
    })
    socket.once("error", () => resume(Effect.succeed(false)))
  })

/** Starts the fixture through the `tsx` CLI, which runs the server as its own child process. */
const startReadyServer = (env: Record<string, string>) =>
  Effect.gen(function* () {
    const port = yield* freePort
    const running = yield* ProcessHarness.start({
      command: tsx,
      args: [readyServer],
      env: { PORT: String(port), ...env }
    })
    return { running, port, readyz: `http://127.0.0.1:${port}/readyz` }
  })

describe("ProcessHarness", () => {
  it.live("awaits /readyz, then SIGKILLs the whole process at a chosen output line", () =>
    Effect.gen(function* () {
      const { running, port, readyz } = yield* startReadyServer({ READY_AFTER_MS: "300" })
      yield* running.awaitReady(readyz)
      const exit = yield* running.killWhen((line) => line.text === "step 3")
      assert.deepStrictEqual(exit, { code: null, signal: "SIGKILL" })
      const printed = (yield* running.recentOutput).map((line) => line.text)
      assert.includeMembers(printed, ["ready", "step 3"])
      // The tsx CLI ran the server as a grandchild: it died with the group, so the port is free.
      assert.isFalse(yield* acceptsConnections(port))
    }).pipe(Effect.scoped)
  )

  it.live("fails awaitReady clearly when the process exits first, with its stderr", () =>
    Effect.gen(function* () {
      const { running, readyz } = yield* startReadyServer({ EXIT_WITH_CODE: "3" })
      const error = yield* running.awaitReady(readyz).pipe(Effect.flip)
      assert.strictEqual(error.reason, "Exited")
      assert.deepStrictEqual(error.exit._tag === "Some" ? error.exit.value : undefined, {
        code: 3,
        signal: null
      })
      assert.include(error.message, "exited with code 3 before")
      assert.include(error.message, "[stderr] boom: the configuration is missing")
    }).pipe(Effect.scoped)
  )

  it.live("fails killWhen when the output ends without the awaited line", () =>
    Effect.gen(function* () {
      const { running } = yield* startReadyServer({ EXIT_WITH_CODE: "3" })
      const error = yield* running.killWhen((line) => line.text === "ready").pipe(Effect.flip)
      assert.deepStrictEqual(error.exit, { code: 3, signal: null })
      assert.include(error.message, "exited with code 3 without printing the awaited line")
    }).pipe(Effect.scoped)
  )

  it.live("fails awaitReady after the deadline while the process stays unready, naming the last answer", () =>
    Effect.gen(function* () {
      const { running, readyz } = yield* startReadyServer({ READY_AFTER_MS: "600000" })
      // Wait until it listens (a loaded machine may take seconds to start node), so the short
      // deadline below measures only the unready period.
      yield* running.output.pipe(
        Stream.filter((line) => line.text.startsWith("listening on")),
        Stream.runHead
      )
      const error = yield* running.awaitReady(readyz, { timeout: "2 seconds" }).pipe(Effect.flip)
      assert.strictEqual(error.reason, "Timeout")
      assert.include(error.message, "answered 503")
      assert.include(error.message, "[stdout] listening on")
    }).pipe(Effect.scoped)
  )

  it.live("kills the process when the scope closes", () =>
    Effect.gen(function* () {
      const scope = yield* Scope.make()
      const { running, port, readyz } = yield* startReadyServer({}).pipe(Scope.extend(scope))
      yield* running.awaitReady(readyz)
      yield* Scope.close(scope, Exit.void)
      assert.deepStrictEqual(yield* running.exit, { code: null, signal: "SIGKILL" })
      assert.isFalse(yield* acceptsConnections(port))
    })
  )

  it.live("fails to start a command that does not exist", () =>
    Effect.gen(function* () {
      const error = yield* ProcessHarness.start({ command: "/nonexistent/converge-app" }).pipe(Effect.flip)
      assert.strictEqual(error._tag, "ProcessStartError")
      assert.include(error.message, "Could not start /nonexistent/converge-app")
    }).pipe(Effect.scoped)
  )
})
