import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Policy from "../src/Policy.js"
import * as Staging from "../src/Staging.js"
import { migratedDatabase, stage, states } from "./helpers.js"

const rowCounts = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ readonly flows: number; readonly executions: number; readonly edges: number }>`
    SELECT (SELECT count(*)::int FROM deps_flows) AS flows,
           (SELECT count(*)::int FROM deps_executions) AS executions,
           (SELECT count(*)::int FROM deps_edges) AS edges`
  return row
})

describe("Staging", () => {
  it.layer(migratedDatabase)("against Postgres", (it) => {
    it.effect("stages roots runnable and downstreams blocked", () =>
      Effect.gen(function* () {
        const flow = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c" }],
          [
            ["a", "c"],
            ["b", "c"]
          ]
        )
        expect(yield* states(flow.flowId)).toEqual({ a: "runnable", b: "runnable", c: "blocked" })
      })
    )

    const rejected: ReadonlyArray<[string, Staging.FlowSpec, string]> = [
      [
        "a cycle",
        {
          namespace: "ns",
          instanceTag: "t",
          executions: [{ name: "a" }, { name: "b" }, { name: "c" }],
          edges: [
            { upstream: "a", downstream: "b" },
            { upstream: "b", downstream: "c" },
            { upstream: "c", downstream: "a" }
          ]
        },
        "CycleDetected"
      ],
      [
        "a self-edge",
        {
          namespace: "ns",
          instanceTag: "t",
          executions: [{ name: "a" }],
          edges: [{ upstream: "a", downstream: "a" }]
        },
        "SelfEdge"
      ],
      [
        "an unknown execution",
        {
          namespace: "ns",
          instanceTag: "t",
          executions: [{ name: "a" }],
          edges: [{ upstream: "a", downstream: "ghost" }]
        },
        "UnknownExecution"
      ],
      [
        "quorum k above the upstream count",
        {
          namespace: "ns",
          instanceTag: "t",
          executions: [{ name: "a" }, { name: "b" }, { name: "c", policy: Policy.quorum(3) }],
          edges: [
            { upstream: "a", downstream: "c" },
            { upstream: "b", downstream: "c" }
          ]
        },
        "BadPolicy"
      ],
      [
        "quorum k of zero",
        {
          namespace: "ns",
          instanceTag: "t",
          executions: [{ name: "a" }, { name: "c", policy: Policy.quorum(0) }],
          edges: [{ upstream: "a", downstream: "c" }]
        },
        "BadPolicy"
      ],
      [
        "a duplicate edge",
        {
          namespace: "ns",
          instanceTag: "t",
          executions: [{ name: "a" }, { name: "b" }],
          edges: [
            { upstream: "a", downstream: "b" },
            { upstream: "a", downstream: "b" }
          ]
        },
        "DuplicateDeclaration"
      ]
    ]
    for (const [what, spec, tag] of rejected) {
      it.effect(`rejects ${what} with ${tag} and writes nothing`, () =>
        Effect.gen(function* () {
          const before = yield* rowCounts
          const error = yield* Effect.flip(Staging.stage(spec))
          expect(error._tag).toBe(tag)
          expect(error.message.length).toBeGreaterThan(0)
          expect(yield* rowCounts).toEqual(before)
        })
      )
    }

    it.effect("names the executions around a cycle", () =>
      Effect.gen(function* () {
        const error = yield* Effect.flip(
          Staging.stage({
            namespace: "ns",
            instanceTag: "t",
            executions: [{ name: "root" }, { name: "x" }, { name: "y" }],
            edges: [
              { upstream: "root", downstream: "x" },
              { upstream: "x", downstream: "y" },
              { upstream: "y", downstream: "x" }
            ]
          })
        )
        expect(error._tag === "CycleDetected" ? [...error.path].sort() : []).toEqual(["x", "x", "y"])
      })
    )
  })
})
