import { describe, expect, it } from "@effect/vitest"
import * as Policy from "../src/Policy.js"

const counters = (total: number, succeeded: number, notSucceeded: number): Policy.Counters => ({
  total,
  succeeded,
  notSucceeded
})

describe("Policy.evaluate", () => {
  it("all_of: pending until every upstream succeeded, impossible on the first non-success", () => {
    expect(Policy.evaluate(Policy.allOf, counters(3, 0, 0))).toBe("pending")
    expect(Policy.evaluate(Policy.allOf, counters(3, 2, 0))).toBe("pending")
    expect(Policy.evaluate(Policy.allOf, counters(3, 3, 0))).toBe("satisfied")
    expect(Policy.evaluate(Policy.allOf, counters(3, 0, 1))).toBe("impossible")
    expect(Policy.evaluate(Policy.allOf, counters(3, 2, 1))).toBe("impossible")
  })

  it("any_of: satisfied on the first success, impossible only when all ended without success", () => {
    expect(Policy.evaluate(Policy.anyOf, counters(3, 0, 0))).toBe("pending")
    expect(Policy.evaluate(Policy.anyOf, counters(3, 0, 2))).toBe("pending")
    expect(Policy.evaluate(Policy.anyOf, counters(3, 1, 0))).toBe("satisfied")
    expect(Policy.evaluate(Policy.anyOf, counters(3, 1, 2))).toBe("satisfied")
    expect(Policy.evaluate(Policy.anyOf, counters(3, 0, 3))).toBe("impossible")
  })

  it("quorum(k): satisfied at k successes, impossible exactly when successes can no longer reach k", () => {
    const q2 = Policy.quorum(2)
    expect(Policy.evaluate(q2, counters(4, 1, 0))).toBe("pending")
    expect(Policy.evaluate(q2, counters(4, 2, 0))).toBe("satisfied")
    // 4 upstreams, 2 failed: the 2 still live can still make k = 2.
    expect(Policy.evaluate(q2, counters(4, 0, 2))).toBe("pending")
    // 3 failed: only 1 left, k = 2 is out of reach.
    expect(Policy.evaluate(q2, counters(4, 0, 3))).toBe("impossible")
    expect(Policy.evaluate(q2, counters(4, 1, 2))).toBe("pending")
    expect(Policy.evaluate(q2, counters(4, 1, 3))).toBe("impossible")
    expect(Policy.evaluate(Policy.quorum(4), counters(4, 3, 0))).toBe("pending")
    expect(Policy.evaluate(Policy.quorum(4), counters(4, 3, 1))).toBe("impossible")
    expect(Policy.evaluate(Policy.quorum(1), counters(4, 0, 3))).toBe("pending")
    expect(Policy.evaluate(Policy.quorum(1), counters(4, 0, 4))).toBe("impossible")
  })

  it("all_done: satisfied once every upstream is terminal whatever the outcome, never impossible", () => {
    expect(Policy.evaluate(Policy.allDone, counters(3, 0, 2))).toBe("pending")
    expect(Policy.evaluate(Policy.allDone, counters(3, 0, 3))).toBe("satisfied")
    expect(Policy.evaluate(Policy.allDone, counters(3, 1, 2))).toBe("satisfied")
  })

  it("matches a brute-force reading of each policy on every counter combination up to 6 upstreams", () => {
    for (let total = 1; total <= 6; total++) {
      for (let succeeded = 0; succeeded <= total; succeeded++) {
        for (let notSucceeded = 0; succeeded + notSucceeded <= total; notSucceeded++) {
          const live = total - succeeded - notSucceeded
          const c = counters(total, succeeded, notSucceeded)
          for (let k = 1; k <= total; k++) {
            const expected = succeeded >= k ? "satisfied" : succeeded + live < k ? "impossible" : "pending"
            expect(Policy.evaluate(Policy.quorum(k), c)).toBe(expected)
          }
          expect(Policy.evaluate(Policy.allDone, c)).toBe(live === 0 ? "satisfied" : "pending")
        }
      }
    }
  })
})

describe("Policy.validate", () => {
  it("rejects quorum k outside 1..upstreams and accepts the boundaries", () => {
    expect(Policy.validate(Policy.quorum(0), 3)?._tag).toBe("InvalidPolicy")
    expect(Policy.validate(Policy.quorum(4), 3)?._tag).toBe("InvalidPolicy")
    expect(Policy.validate(Policy.quorum(1.5), 3)?._tag).toBe("InvalidPolicy")
    expect(Policy.validate(Policy.quorum(1), 3)).toBeUndefined()
    expect(Policy.validate(Policy.quorum(3), 3)).toBeUndefined()
    expect(Policy.validate(Policy.anyOf, 3)).toBeUndefined()
  })

  it("defaults on_satisfied to cancel_remaining for any_of and quorum, let_run otherwise", () => {
    expect(Policy.defaultOnSatisfied(Policy.anyOf)).toBe("cancel_remaining")
    expect(Policy.defaultOnSatisfied(Policy.quorum(2))).toBe("cancel_remaining")
    expect(Policy.defaultOnSatisfied(Policy.allOf)).toBe("let_run")
    expect(Policy.defaultOnSatisfied(Policy.allDone)).toBe("let_run")
  })
})
