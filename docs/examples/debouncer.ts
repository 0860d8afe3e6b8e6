/**
 * Choosing a connection mode from noisy signals: the network flaps and the app goes to the
 * background and back, but the mode changes once, after things have been quiet for a second.
 */
import { Debouncer } from "@converge/core"
import { Effect, Ref } from "effect"

/** The signals the mode depends on. */
export interface Signals extends Record<string, unknown> {
  readonly online: boolean
  readonly foreground: boolean
}

/** How the client talks to the server. */
export type Mode = "streaming" | "polling" | "offline"

/** The mode for a settled record of signals. */
export const modeFor = (signals: Signals): Mode =>
  !signals.online ? "offline" : signals.foreground ? "streaming" : "polling"

const initial: Signals = { online: true, foreground: true }

/** Starts the debouncer; `applied` lists every mode it switched to, in order. */
export const make = Effect.gen(function* () {
  const applied = yield* Ref.make<ReadonlyArray<Mode>>([])
  const signals = yield* Debouncer.make({
    name: "connection-mode",
    initial,
    window: "1 second",
    maxWait: "10 seconds", // a network that never stops flapping still settles every 10 s
    onSettle: (settled) => Ref.update(applied, (modes) => [...modes, modeFor(settled)])
  })
  return { signals, applied: Ref.get(applied) }
})
