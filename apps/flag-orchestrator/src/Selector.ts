/**
 * The FDv2 selector: the `(state, version)` a payload brought the data to.
 *
 * The server issues it with `payload-transferred`; the client sends its `state` back as the `basis`
 * query parameter on every later request so the server can answer with changes only.
 * The empty selector (state `""`) means "no basis": the first request sends `basis=` empty.
 */
import { Schema } from "effect"

/** A payload's position: an opaque `state` string and the payload `version`. */
export class Selector extends Schema.Class<Selector>("Selector")({
  state: Schema.String,
  version: Schema.Number
}) {}

/** The empty selector: no basis held; an empty `state` from the server clears the basis to this. */
export const empty: Selector = new Selector({ state: "", version: 0 })

/** Builds a selector; an empty `state` gives the empty selector whatever the version. */
export const make = (state: string, version: number): Selector =>
  state === "" ? empty : new Selector({ state, version })

/** True when the selector carries no basis (its `state` is empty). */
export const isEmpty = (selector: Selector): boolean => selector.state === ""

/** The name of the query parameter that carries the selector's state back to the server. */
export const basisParameter = "basis"

/** `url` with `basis=<state>` set (replacing any earlier `basis`); `basis=` empty for the empty selector. */
export const withBasis = (url: string | URL, selector: Selector): string => {
  const target = new URL(url)
  target.searchParams.set(basisParameter, selector.state)
  return target.toString()
}
