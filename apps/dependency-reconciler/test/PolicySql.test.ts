import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Policy from "../src/Policy.js"
import { migratedDatabase } from "./helpers.js"

interface Case {
  readonly name: string
  readonly k: number | null
  readonly total: number
  readonly succeeded: number
  readonly notSucceeded: number
}

// Every stored policy on every counter combination up to 6 upstreams (quorum with every k).
const cases = (): ReadonlyArray<Case> => {
  const all: Array<Case> = []
  for (let total = 1; total <= 6; total++) {
    for (let succeeded = 0; succeeded <= total; succeeded++) {
      for (let notSucceeded = 0; succeeded + notSucceeded <= total; notSucceeded++) {
        for (const name of ["all_of", "any_of", "all_done"]) {
          all.push({ name, k: null, total, succeeded, notSucceeded })
        }
        for (let k = 1; k <= total; k++) all.push({ name: "quorum", k, total, succeeded, notSucceeded })
      }
    }
  }
  return all
}

describe("deps_policy_evaluate (migration 0003), the SQL twin of Policy.evaluate", () => {
  it.layer(migratedDatabase)("against Postgres", (it) => {
    it.effect("agrees with Policy.evaluate on every policy and counter combination up to 6 upstreams", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const all = cases()
        const rows = yield* sql<{ readonly i: number; readonly decision: string }>`
          SELECT c.i::int AS i,
                 deps_policy_evaluate(c.name, c.k, c.total, c.succeeded, c.not_succeeded) AS decision
          FROM jsonb_to_recordset(${JSON.stringify(all.map((item, i) => ({ i, ...item, not_succeeded: item.notSucceeded })))}::jsonb)
            AS c(i int, name text, k int, total int, succeeded int, not_succeeded int)
          ORDER BY c.i`
        expect(rows).toHaveLength(all.length)
        const decisions = new Set<string>()
        for (const row of rows) {
          const item = all[row.i]
          if (item === undefined) throw new Error(`no case ${row.i}`)
          const expected = Policy.evaluate(Policy.fromRow(item.name, item.k), {
            total: item.total,
            succeeded: item.succeeded,
            notSucceeded: item.notSucceeded
          })
          expect({ ...item, decision: row.decision }).toEqual({ ...item, decision: expected })
          decisions.add(row.decision)
        }
        // Every decision occurs, so the comparison covers each boundary.
        expect([...decisions].sort()).toEqual(["impossible", "pending", "satisfied"])
      })
    )
  })
})
