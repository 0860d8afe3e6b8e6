/**
 * Dependency policies of an edge group and their pure evaluation from the group's counters.
 */
import { Data } from "effect"

/** How a downstream's upstream outcomes decide whether it runs. */
export type Policy =
  | { readonly _tag: "AllOf" }
  | { readonly _tag: "AnyOf" }
  | { readonly _tag: "Quorum"; readonly k: number }
  | { readonly _tag: "AllDone" }

/** Satisfied when every upstream succeeded; impossible on the first non-success. */
export const allOf: Policy = { _tag: "AllOf" }
/** Satisfied on the first success; impossible when every upstream ended without success. */
export const anyOf: Policy = { _tag: "AnyOf" }
/** Satisfied at `k` successes; impossible once successes can no longer reach `k`. */
export const quorum = (k: number): Policy => ({ _tag: "Quorum", k })
/** Satisfied when every upstream is terminal, whatever the outcomes; never impossible. */
export const allDone: Policy = { _tag: "AllDone" }

/** What happens to still-live upstream siblings once the group decides. */
export type OnSatisfied = "cancel_remaining" | "let_run"

/** The default `OnSatisfied` of a policy: `cancel_remaining` for any_of and quorum, else `let_run`. */
export const defaultOnSatisfied = (policy: Policy): OnSatisfied =>
  policy._tag === "AnyOf" || policy._tag === "Quorum" ? "cancel_remaining" : "let_run"

/** A group's counters: its number of upstreams and how many have ended with and without success. */
export interface Counters {
  readonly total: number
  readonly succeeded: number
  readonly notSucceeded: number
}

/** A group's decision; `Pending` is the only state that may change, and only once. */
export type Decision = "pending" | "satisfied" | "impossible"

/** A policy that cannot be evaluated for its group (e.g. quorum k outside 1..upstreams). */
export class InvalidPolicy extends Data.TaggedError("InvalidPolicy")<{
  readonly message: string
}> {}

/** Checks `policy` against a group of `upstreams` upstreams; quorum needs 1 ≤ k ≤ upstreams. */
export const validate = (policy: Policy, upstreams: number): InvalidPolicy | undefined => {
  if (policy._tag !== "Quorum") return undefined
  if (!Number.isInteger(policy.k) || policy.k < 1 || policy.k > upstreams) {
    return new InvalidPolicy({
      message: `quorum(${policy.k}) needs an integer k between 1 and the number of upstreams (${upstreams})`
    })
  }
  return undefined
}

/** Evaluates `policy` on `counters`: pure, total, and monotone as counters only grow. */
export const evaluate = (policy: Policy, counters: Counters): Decision => {
  const { notSucceeded, succeeded, total } = counters
  const done = succeeded + notSucceeded
  switch (policy._tag) {
    case "AllOf":
      return notSucceeded > 0 ? "impossible" : succeeded >= total ? "satisfied" : "pending"
    case "AnyOf":
      return succeeded > 0 ? "satisfied" : notSucceeded >= total ? "impossible" : "pending"
    case "Quorum":
      return succeeded >= policy.k ? "satisfied" : total - notSucceeded < policy.k ? "impossible" : "pending"
    case "AllDone":
      return done >= total ? "satisfied" : "pending"
  }
}

/** The policy's stored name and quorum size (`k` is null unless quorum). */
export const toRow = (policy: Policy): { readonly name: string; readonly k: number | null } => {
  switch (policy._tag) {
    case "AllOf":
      return { name: "all_of", k: null }
    case "AnyOf":
      return { name: "any_of", k: null }
    case "Quorum":
      return { name: "quorum", k: policy.k }
    case "AllDone":
      return { name: "all_done", k: null }
  }
}

/** Reads a stored policy back; an unknown name is read as all_of (the schema's CHECK forbids it). */
export const fromRow = (name: string, k: number | null): Policy =>
  name === "any_of" ? anyOf : name === "quorum" ? quorum(k ?? 1) : name === "all_done" ? allDone : allOf
