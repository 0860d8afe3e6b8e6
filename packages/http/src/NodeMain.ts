/**
 * Runs a binary's main effect on Node with a graceful shutdown that survives the way signals
 * really arrive: Ctrl-C reaches every process of the terminal's group, and `npm` / `tsx`
 * forward it to their child again, so one key press often delivers two or three signals at once.
 * Effect's `NodeRuntime.runMain` interrupts on the first and leaves later ones to Node's default
 * action (exit 130/143 on the spot), which would cut finalizers short — a database left running,
 * a work queue not drained. Here signals within `duplicateWindow` of the first are treated as the
 * same request; a signal after that window forces an immediate exit, as users expect from a
 * second Ctrl-C.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, type Effect } from "effect"

/** Options of `runMain`. */
export interface Options {
  /** Signals arriving this soon after the first are duplicates of it. Default 1 second. */
  readonly duplicateWindow?: Duration.DurationInput
}

/** Runs `effect` as the process's main program: interrupted gracefully on SIGINT / SIGTERM, exit code 0 on success or interruption, 1 on failure. */
export const runMain = <E, A>(effect: Effect.Effect<A, E>, options: Options = {}): void => {
  const windowMillis = Duration.toMillis(options.duplicateWindow ?? "1 second")
  let firstSignalAt: number | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    const now = Date.now()
    if (firstSignalAt === undefined) {
      firstSignalAt = now
    } else if (now - firstSignalAt > windowMillis) {
      process.exit(signal === "SIGINT" ? 130 : 143)
    }
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  NodeRuntime.runMain(effect)
}
