import * as Fs from "node:fs/promises"
import * as Path from "node:path"
import { Effect, Option } from "effect"

/** The PID recorded in `<dataDir>/postmaster.pid`, when that file exists and the process is alive. */
export const runningPid = (dataDir: string): Effect.Effect<Option.Option<number>> =>
  Effect.tryPromise(() => Fs.readFile(Path.join(dataDir, "postmaster.pid"), "utf8")).pipe(
    Effect.map((content) => Option.filter(parsePid(content), isAlive)),
    Effect.orElseSucceed(() => Option.none<number>())
  )

/** Whether `<dataDir>` already holds an initialised cluster (initdb writes `PG_VERSION` first). */
export const isInitialised = (dataDir: string): Effect.Effect<boolean> =>
  Effect.tryPromise(() => Fs.access(Path.join(dataDir, "PG_VERSION"))).pipe(
    Effect.as(true),
    Effect.orElseSucceed(() => false)
  )

/** Sends `signal` to `pid`, ignoring a process that is already gone. */
export const signalQuietly = (pid: number, signal: NodeJS.Signals): Effect.Effect<void> =>
  Effect.try(() => process.kill(pid, signal)).pipe(Effect.ignore)

const parsePid = (content: string): Option.Option<number> => {
  const pid = Number.parseInt(content.split("\n")[0] ?? "", 10)
  return Number.isInteger(pid) && pid > 0 ? Option.some(pid) : Option.none()
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: the process exists but belongs to another user (the `postgres` OS user).
    return error instanceof Error && "code" in error && error.code === "EPERM"
  }
}
