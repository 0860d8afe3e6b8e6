/**
 * Telling whether a recorded process is still the one that was started: a pid alone is not enough,
 * since the OS reuses pids. On Linux the kernel's start time of the process (`/proc/<pid>/stat`,
 * field 22, in clock ticks since boot) is recorded at spawn and compared later; a zombie (`Z`) or
 * dead (`X`) process counts as exited. Elsewhere only `kill(pid, 0)` is available.
 */
import * as Fs from "node:fs"

/** What the OS says about a pid now. */
export type Liveness =
  /** The process runs and, where that can be checked, is the one recorded. */
  | "alive"
  /** No such process, or it has exited (zombie). */
  | "exited"
  /** The pid runs, but it is another process (its start time differs): the recorded one is gone. */
  | "reused"

interface Stat {
  readonly state: string
  readonly startTime: string
}

const readStat = (pid: number): Stat | undefined | "unsupported" => {
  let text: string
  try {
    text = Fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  } catch {
    return Fs.existsSync("/proc/self/stat") ? undefined : "unsupported"
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after the last ")".
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ")
  const state = fields[0]
  const startTime = fields[19]
  return state === undefined || startTime === undefined ? undefined : { state, startTime }
}

/** The kernel's start time of `pid` (Linux), to record at spawn; `null` where it cannot be read. */
export const startTimeOf = (pid: number): string | null => {
  const stat = readStat(pid)
  return stat === undefined || stat === "unsupported" ? null : stat.startTime
}

const signalZeroSucceeds = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    // EPERM: the pid exists but belongs to someone else, so it is not the process we started.
    return false
  }
}

/** Whether `pid`, started at `startTime` (as `startTimeOf` recorded it), is still running. */
export const liveness = (pid: number, startTime: string | null): Liveness => {
  const stat = readStat(pid)
  if (stat === "unsupported") return signalZeroSucceeds(pid) ? "alive" : "exited"
  if (stat === undefined || stat.state === "Z" || stat.state === "X") return "exited"
  if (startTime !== null && stat.startTime !== startTime) return "reused"
  return "alive"
}
