/**
 * Runs a binary's main effect on Node with a graceful shutdown that survives the way signals
 * really arrive: Ctrl-C reaches every process of the terminal's group, and wrappers such as the
 * `tsx` CLI or `npm` re-deliver it to their child, so one key press often delivers the same
 * signal twice. Effect's `NodeRuntime.runMain` interrupts on the first and leaves later ones to
 * Node's default action (exit 130/143 on the spot), which cuts finalizers short — a database left
 * running, a work queue not drained. Here the first signal starts the graceful shutdown and later
 * ones are taken as re-delivered copies of it, unless they are both numerous and late: from the
 * third signal on, one arriving more than `duplicateWindow` after the first (the user pressing
 * Ctrl-C again) forces an immediate exit. Neither a count alone (nested wrappers each re-deliver)
 * nor a time alone (a loaded machine delays the copies) tells a copy from a second press.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Duration, type Effect } from "effect"

/** Options of `runMain`. */
export interface Options {
  /** How long after the first signal later ones may still be copies of it. Default 2 seconds. */
  readonly duplicateWindow?: Duration.DurationInput
}

/** Runs `effect` as the process's main program: interrupted gracefully on SIGINT / SIGTERM, exit code 0 on success or interruption, 1 on failure. */
export const runMain = <E, A>(effect: Effect.Effect<A, E>, options: Options = {}): void => {
  const windowMillis = Duration.toMillis(options.duplicateWindow ?? "2 seconds")
  let signalsReceived = 0
  let firstSignalAt = 0
  const onSignal = (signal: NodeJS.Signals) => {
    signalsReceived++
    if (signalsReceived === 1) firstSignalAt = Date.now()
    else if (signalsReceived >= 3 && Date.now() - firstSignalAt > windowMillis) {
      process.exit(signal === "SIGINT" ? 130 : 143)
    }
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  NodeRuntime.runMain(effect)
}
