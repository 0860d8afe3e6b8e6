/**
 * The four dependency policies as pure functions of a group's counters: what `Policy.evaluate`
 * decides for a group of three upstreams.
 */
import { Policy } from "@converge/dependency-reconciler"

// #region evaluate
const counters = (succeeded: number, notSucceeded: number): Policy.Counters => ({
  total: 3,
  succeeded,
  notSucceeded
})

/** One success, one failure, one still running. */
export const oneOfEach = {
  allOf: Policy.evaluate(Policy.allOf, counters(1, 1)), // "impossible": a non-success
  anyOf: Policy.evaluate(Policy.anyOf, counters(1, 1)), // "satisfied": a success
  quorum2: Policy.evaluate(Policy.quorum(2), counters(1, 1)), // "pending": 2 can still succeed
  allDone: Policy.evaluate(Policy.allDone, counters(1, 1)) // "pending": one is still live
}

/** Two failures: quorum(2) can no longer reach two successes. */
export const twoFailures = Policy.evaluate(Policy.quorum(2), counters(0, 2)) // "impossible"
// #endregion evaluate
