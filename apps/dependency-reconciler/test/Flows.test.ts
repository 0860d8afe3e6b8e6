import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Claims from "../src/Claims.js"
import * as Completion from "../src/Completion.js"
import * as Dispatch from "../src/Dispatch.js"
import * as Flows from "../src/Flows.js"
import * as Policy from "../src/Policy.js"
import { drain, events, migratedDatabase, stage, states } from "./helpers.js"

// a → c ← b, c → d: a and b start runnable, c and d blocked.
const diamondless = () =>
  stage(
    [{ name: "a" }, { name: "b" }, { name: "c", policy: Policy.allOf }, { name: "d" }],
    [
      ["a", "c"],
      ["b", "c"],
      ["c", "d"]
    ]
  )

const flowRow = (flowId: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const [row] = yield* sql<{ readonly state: string; readonly finished: boolean }>`
      SELECT state, finished_at IS NOT NULL AS finished FROM deps_flows WHERE id = ${flowId}`
    return row
  })

describe("Flows", () => {
  it.layer(migratedDatabase)("against Postgres", (it) => {
    it.effect(
      "cancel_all cancels every live execution, running ones too, each with a reason and its own event",
      () =>
        Effect.gen(function* () {
          const flow = yield* diamondless()
          yield* Claims.claimRunnable(1) // a is running
          const result = yield* Flows.cancel(flow.flowId, "cancel_all")
          expect(result.cancelled).toEqual([flow.id("a"), flow.id("b"), flow.id("c"), flow.id("d")])
          expect(result.events).toHaveLength(4)
          expect(yield* states(flow.flowId)).toEqual({
            a: "cancelled",
            b: "cancelled",
            c: "cancelled",
            d: "cancelled"
          })
          const written = yield* events(flow.flowId)
          expect(written.map((event) => [event.name, event.outcome])).toEqual([
            ["a", "cancelled"],
            ["b", "cancelled"],
            ["c", "cancelled"],
            ["d", "cancelled"]
          ])
          expect(written.map((event) => event.id)).toEqual(result.events)
          expect(yield* flowRow(flow.flowId)).toEqual({ state: "cancelled", finished: true })

          const view = yield* Flows.get(flow.flowId)
          expect(
            view.executions.every(
              (execution) => execution.reason === `flow ${flow.flowId} cancelled (cancel_all)`
            )
          ).toBe(true)
          // The cascade carries on: every event dispatches and the groups count the cancellations once.
          expect(yield* drain(flow.flowId)).toBe(4)
          const after = yield* Flows.get(flow.flowId)
          expect(after.groups.map((group) => [group.downstream, group.notSucceeded, group.decision])).toEqual(
            [
              ["c", 2, "impossible"],
              ["d", 1, "impossible"]
            ]
          )
          expect(yield* states(flow.flowId)).toEqual({
            a: "cancelled",
            b: "cancelled",
            c: "cancelled",
            d: "cancelled"
          })
        })
    )

    it.effect("cancel_pending leaves running executions alone; the flow finishes when they end", () =>
      Effect.gen(function* () {
        const flow = yield* diamondless()
        yield* Claims.claimRunnable(1) // a is running
        const result = yield* Flows.cancel(flow.flowId, "cancel_pending")
        expect(result.cancelled).toEqual([flow.id("b"), flow.id("c"), flow.id("d")])
        expect(yield* states(flow.flowId)).toEqual({
          a: "running",
          b: "cancelled",
          c: "cancelled",
          d: "cancelled"
        })
        expect(yield* flowRow(flow.flowId)).toEqual({ state: "cancelled", finished: false })

        yield* Completion.complete(flow.id("a"), "succeeded")
        expect(yield* flowRow(flow.flowId)).toEqual({ state: "cancelled", finished: true })
        yield* drain(flow.flowId)
        const view = yield* Flows.get(flow.flowId)
        expect(view.executions.map((execution) => [execution.name, execution.outcome])).toEqual([
          ["a", "succeeded"],
          ["b", "cancelled"],
          ["c", "cancelled"],
          ["d", "cancelled"]
        ])
        expect(view.groups.find((group) => group.downstream === "c")).toMatchObject({
          succeeded: 1,
          notSucceeded: 1,
          decision: "impossible"
        })
      })
    )

    it.effect("cancelling a finished flow cancels nothing and keeps it finished", () =>
      Effect.gen(function* () {
        const flow = yield* stage([{ name: "only" }], [])
        yield* Completion.complete(flow.id("only"), "failed")
        const result = yield* Flows.cancel(flow.flowId, "cancel_all")
        expect(result.cancelled).toEqual([])
        expect(yield* flowRow(flow.flowId)).toEqual({ state: "finished", finished: true })
      })
    )

    it.effect("get returns the flow, every execution's state, outcome and reason, and every group", () =>
      Effect.gen(function* () {
        const flow = yield* stage(
          [
            { name: "a" },
            { name: "b" },
            { name: "c" },
            { name: "q", policy: Policy.quorum(2), onSatisfied: "cancel_remaining" }
          ],
          [
            ["a", "q"],
            ["b", "q"],
            ["c", "q"]
          ],
          { namespace: "team-x", instanceTag: "blue" }
        )
        yield* Completion.complete(flow.id("a"), "succeeded")
        yield* Completion.complete(flow.id("b"), "succeeded")
        yield* drain(flow.flowId)
        const view = yield* Flows.get(flow.flowId)
        expect(view).toMatchObject({
          id: flow.flowId,
          namespace: "team-x",
          instanceTag: "blue",
          state: "running",
          finishedAt: null
        })
        expect(view.createdAt).toBeInstanceOf(Date)
        expect(
          view.executions.map((execution) => [
            execution.name,
            execution.state,
            execution.outcome,
            execution.reason
          ])
        ).toEqual([
          ["a", "succeeded", "succeeded", null],
          ["b", "succeeded", "succeeded", null],
          [
            "c",
            "cancelled",
            "cancelled",
            `group of execution ${flow.id("q")} decided satisfied (quorum); remaining upstreams cancelled`
          ],
          ["q", "runnable", null, null]
        ])
        expect(view.groups).toHaveLength(1)
        expect(view.groups[0]).toMatchObject({
          downstreamId: flow.id("q"),
          downstream: "q",
          policy: "quorum",
          quorumK: 2,
          onSatisfied: "cancel_remaining",
          total: 3,
          succeeded: 2,
          // c's cancellation is counted too, once its event is dispatched; the decision stays.
          notSucceeded: 1,
          decision: "satisfied"
        })
        expect(view.groups[0]?.decidedAt).toBeInstanceOf(Date)
      })
    )

    it.effect("a flow is finished when all its executions are terminal, and not before", () =>
      Effect.gen(function* () {
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* Completion.complete(flow.id("a"), "succeeded")
        yield* drain(flow.flowId)
        expect(yield* flowRow(flow.flowId)).toEqual({ state: "running", finished: false })
        yield* Completion.complete(flow.id("b"), "succeeded")
        const view = yield* Flows.get(flow.flowId)
        expect(view.state).toBe("finished")
        expect(view.finishedAt).toBeInstanceOf(Date)
      })
    )

    it.effect("a skip cascade that ends the last executions finishes the flow", () =>
      Effect.gen(function* () {
        const flow = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c" }],
          [
            ["a", "b"],
            ["b", "c"]
          ]
        )
        yield* Completion.complete(flow.id("a"), "failed")
        yield* drain(flow.flowId)
        expect(yield* states(flow.flowId)).toEqual({ a: "failed", b: "skipped", c: "skipped" })
        expect(yield* flowRow(flow.flowId)).toEqual({ state: "finished", finished: true })
      })
    )

    it.effect(
      "the last two executions ending concurrently still finish the flow once their events are dispatched",
      () =>
        Effect.gen(function* () {
          for (let round = 0; round < 10; round++) {
            const flow = yield* stage([{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d" }], [])
            yield* Effect.forEach(
              ["a", "b", "c", "d"],
              (name) => Completion.complete(flow.id(name), "succeeded"),
              {
                concurrency: "unbounded"
              }
            )
            // Concurrent last completions may each see the other live at commit (the commit-time
            // check no longer locks the flow row); the dispatch of the later one's event sees both
            // terminal and marks the flow.
            yield* Effect.forEach(yield* events(flow.flowId), (event) => Dispatch.dispatch(event.id), {
              concurrency: "unbounded",
              discard: true
            })
            expect(yield* flowRow(flow.flowId)).toEqual({ state: "finished", finished: true })
          }
        })
    )

    it.effect("an unknown flow is FlowNotFound for cancel and get", () =>
      Effect.gen(function* () {
        const cancelError = yield* Effect.flip(Flows.cancel("999999", "cancel_all"))
        expect(cancelError._tag).toBe("FlowNotFound")
        expect(cancelError.message).toContain("999999")
        const getError = yield* Effect.flip(Flows.get("999999"))
        expect(getError._tag).toBe("FlowNotFound")
      })
    )
  })
})
