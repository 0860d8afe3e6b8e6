import { SqlClient } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Claims from "../src/Claims.js"
import * as Completion from "../src/Completion.js"
import * as Dispatch from "../src/Dispatch.js"
import * as Policy from "../src/Policy.js"
import { drain, events, group, migratedDatabase, stage, states } from "./helpers.js"

describe("Completion, Dispatch and Claims", () => {
  it.layer(migratedDatabase)("against Postgres", (it) => {
    it.effect("a terminal transition and its completion event commit together or not at all", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        const rolledBack = yield* sql
          .withTransaction(
            Effect.zipRight(Completion.complete(flow.id("a"), "succeeded"), Effect.fail("boom"))
          )
          .pipe(Effect.flip)
        expect(rolledBack).toBe("boom")
        expect(yield* states(flow.flowId)).toEqual({ a: "runnable", b: "blocked" })
        expect(yield* events(flow.flowId)).toEqual([])

        yield* Completion.complete(flow.id("a"), "succeeded")
        expect((yield* states(flow.flowId)).a).toBe("succeeded")
        expect(
          (yield* events(flow.flowId)).map((event) => [event.name, event.outcome, event.dispatched])
        ).toEqual([["a", "succeeded", false]])
        const again = yield* Effect.flip(Completion.complete(flow.id("a"), "failed"))
        expect(again._tag).toBe("ExecutionNotLive")
        expect((yield* states(flow.flowId)).a).toBe("succeeded")
        expect(yield* events(flow.flowId)).toHaveLength(1)
      })
    )

    it.effect("replaying an event applies each edge exactly once", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const flow = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c", policy: Policy.allOf }],
          [
            ["a", "c"],
            ["b", "c"]
          ]
        )
        const eventId = yield* Completion.complete(flow.id("a"), "succeeded")
        yield* Dispatch.dispatch(eventId)
        // Force a replay as after a crash between the hop's commit and the dispatched mark.
        yield* sql`UPDATE deps_completion_events SET dispatched_at = NULL WHERE id = ${eventId}`
        const replay = yield* Dispatch.dispatch(eventId)
        expect(replay._tag === "Dispatched" ? replay.hops.map((hop) => hop.applied) : []).toEqual([false])
        expect(yield* Dispatch.dispatch(eventId)).toEqual({ _tag: "AlreadyDispatched" })
        expect(yield* group(flow.id("c"))).toEqual({ succeeded: 1, not_succeeded: 0, decision: "pending" })
        expect((yield* states(flow.flowId)).c).toBe("blocked")
      })
    )

    it.effect("two concurrent dispatchers of the same events count each edge once", () =>
      Effect.gen(function* () {
        const upstreams = Array.from({ length: 8 }, (_, index) => `u${index}`)
        const flow = yield* stage(
          [...upstreams.map((name) => ({ name })), { name: "join", policy: Policy.allOf }],
          upstreams.map((name) => [name, "join"] as const)
        )
        const eventIds = yield* Effect.forEach(upstreams, (name) =>
          Completion.complete(flow.id(name), "succeeded")
        )
        yield* Effect.forEach([...eventIds, ...eventIds], (eventId) => Dispatch.dispatch(eventId), {
          concurrency: 4
        })
        expect(yield* group(flow.id("join"))).toEqual({
          succeeded: 8,
          not_succeeded: 0,
          decision: "satisfied"
        })
        expect((yield* states(flow.flowId)).join).toBe("runnable")
        expect((yield* events(flow.flowId)).every((event) => event.dispatched)).toBe(true)
      })
    )

    it.effect(
      "an event is dispatched only after all its edges; a failing hop leaves it pending and the next try completes it",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const flow = yield* stage(
            [{ name: "a" }, { name: "b" }, { name: "c" }],
            [
              ["a", "b"],
              ["a", "c"]
            ]
          )
          // A test-only trigger makes the hop onto c fail until it is dropped.
          yield* sql.unsafe(`
          CREATE FUNCTION deps_test_fail_hop() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'hop onto c refused'; END $$`)
          yield* sql.unsafe(`
          CREATE TRIGGER deps_test_fail_hop BEFORE UPDATE ON deps_edge_groups FOR EACH ROW
          WHEN (NEW.downstream_id = ${Number(flow.id("c"))}) EXECUTE FUNCTION deps_test_fail_hop()`)
          const eventId = yield* Completion.complete(flow.id("a"), "succeeded")
          const failure = yield* Effect.flip(Dispatch.dispatch(eventId))
          expect(failure._tag).toBe("DispatchFailed")
          const [pending] = yield* events(flow.flowId)
          expect(pending?.dispatched).toBe(false)
          expect(pending?.attempts).toBe(1)
          expect(pending?.last_error).toContain("hop onto c refused")
          expect(yield* states(flow.flowId)).toEqual({ a: "succeeded", b: "runnable", c: "blocked" })

          yield* sql`DROP TRIGGER deps_test_fail_hop ON deps_edge_groups`
          yield* sql`DROP FUNCTION deps_test_fail_hop()`
          const retried = yield* Dispatch.dispatch(eventId)
          expect(
            retried._tag === "Dispatched" ? retried.hops.map((hop) => [hop.downstreamId, hop.applied]) : []
          ).toEqual([
            [flow.id("b"), false],
            [flow.id("c"), true]
          ])
          expect(yield* states(flow.flowId)).toEqual({ a: "succeeded", b: "runnable", c: "runnable" })
          const [done] = yield* events(flow.flowId)
          expect([done?.dispatched, done?.attempts]).toEqual([true, 2])
          expect(yield* group(flow.id("b"))).toEqual({
            succeeded: 1,
            not_succeeded: 0,
            decision: "satisfied"
          })
        })
    )

    it.effect("decisions are one-shot: late outcomes update counters but never re-fire or un-skip", () =>
      Effect.gen(function* () {
        const flow = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c", policy: Policy.allOf }],
          [
            ["a", "c"],
            ["b", "c"]
          ]
        )
        yield* Completion.complete(flow.id("a"), "failed")
        yield* drain(flow.flowId)
        expect((yield* states(flow.flowId)).c).toBe("skipped")
        yield* Completion.complete(flow.id("b"), "succeeded")
        yield* drain(flow.flowId)
        expect(yield* group(flow.id("c"))).toEqual({ succeeded: 1, not_succeeded: 1, decision: "impossible" })
        expect((yield* states(flow.flowId)).c).toBe("skipped")
        expect(
          (yield* events(flow.flowId)).filter((event) => event.name === "c").map((e) => e.outcome)
        ).toEqual(["skipped"])
      })
    )

    it.effect(
      "any_of satisfied does not re-fire on a later success; the downstream stays where workers put it",
      () =>
        Effect.gen(function* () {
          const flow = yield* stage(
            [{ name: "a" }, { name: "b" }, { name: "c", policy: Policy.anyOf, onSatisfied: "let_run" }],
            [
              ["a", "c"],
              ["b", "c"]
            ]
          )
          yield* Completion.complete(flow.id("a"), "succeeded")
          yield* drain(flow.flowId)
          expect(yield* states(flow.flowId)).toEqual({ a: "succeeded", b: "runnable", c: "runnable" })
          // A worker took c (as Claims.claimRunnable would); a late success must not make it runnable again.
          const sql = yield* SqlClient.SqlClient
          yield* sql`UPDATE deps_executions SET state = 'running' WHERE id = ${flow.id("c")}`
          yield* Completion.complete(flow.id("b"), "succeeded")
          yield* drain(flow.flowId)
          expect(yield* group(flow.id("c"))).toEqual({
            succeeded: 2,
            not_succeeded: 0,
            decision: "satisfied"
          })
          expect((yield* states(flow.flowId)).c).toBe("running")
          expect((yield* events(flow.flowId)).map((event) => event.name)).toEqual(["a", "b"])
        })
    )

    it.effect(
      "cancel_remaining cancels live siblings on satisfied, each with a reason and its own event",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const flow = yield* stage(
            [{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d", policy: Policy.anyOf }],
            [
              ["a", "d"],
              ["b", "d"],
              ["c", "d"]
            ],
            { namespace: "tenant-1", instanceTag: "blue" }
          )
          yield* Completion.complete(flow.id("a"), "succeeded")
          yield* drain(flow.flowId)
          expect(yield* states(flow.flowId)).toEqual({
            a: "succeeded",
            b: "cancelled",
            c: "cancelled",
            d: "runnable"
          })
          const reasons = yield* sql<{ readonly cancel_reason: string | null }>`
          SELECT cancel_reason FROM deps_executions WHERE id IN (${flow.id("b")}, ${flow.id("c")})`
          expect(reasons.every((row) => (row.cancel_reason ?? "").includes("satisfied"))).toBe(true)
          const written = yield* events(flow.flowId)
          expect(
            written.map((event) => [event.name, event.outcome, event.namespace, event.instance_tag])
          ).toEqual([
            ["a", "succeeded", "tenant-1", "blue"],
            ["b", "cancelled", "tenant-1", "blue"],
            ["c", "cancelled", "tenant-1", "blue"]
          ])
          expect(written.every((event) => event.dispatched)).toBe(true)
          // The cancellations' events were applied too, after the one-shot decision.
          expect(yield* group(flow.id("d"))).toEqual({
            succeeded: 1,
            not_succeeded: 2,
            decision: "satisfied"
          })
        })
    )

    it.effect("cancel_remaining cancels live siblings on impossible; let_run never cancels", () =>
      Effect.gen(function* () {
        const cancelling = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d", policy: Policy.quorum(3) }],
          [
            ["a", "d"],
            ["b", "d"],
            ["c", "d"]
          ]
        )
        yield* Completion.complete(cancelling.id("a"), "failed")
        yield* drain(cancelling.flowId)
        expect(yield* states(cancelling.flowId)).toEqual({
          a: "failed",
          b: "cancelled",
          c: "cancelled",
          d: "skipped"
        })

        const letting = yield* stage(
          [
            { name: "a" },
            { name: "b" },
            { name: "c" },
            { name: "d", policy: Policy.quorum(2), onSatisfied: "let_run" }
          ],
          [
            ["a", "d"],
            ["b", "d"],
            ["c", "d"]
          ]
        )
        yield* Completion.complete(letting.id("a"), "failed")
        yield* Completion.complete(letting.id("b"), "failed")
        yield* drain(letting.flowId)
        expect(yield* states(letting.flowId)).toEqual({
          a: "failed",
          b: "failed",
          c: "runnable",
          d: "skipped"
        })
      })
    )

    it.effect(
      "a multi-level cascade drains by dispatching events in id order, labels inherited all the way",
      () =>
        Effect.gen(function* () {
          // a ─► b ─► c ─► d, plus e waiting on all of them done: a failing root skips the chain.
          const flow = yield* stage(
            [
              { name: "a" },
              { name: "b" },
              { name: "c" },
              { name: "d" },
              { name: "e", policy: Policy.allDone }
            ],
            [
              ["a", "b"],
              ["b", "c"],
              ["c", "d"],
              ["a", "e"],
              ["d", "e"]
            ],
            { namespace: "tenant-2", instanceTag: "green" }
          )
          yield* Completion.complete(flow.id("a"), "failed")
          const dispatched = yield* drain(flow.flowId)
          expect(dispatched).toBe(4)
          expect(yield* states(flow.flowId)).toEqual({
            a: "failed",
            b: "skipped",
            c: "skipped",
            d: "skipped",
            e: "runnable"
          })
          const written = yield* events(flow.flowId)
          expect(written.map((event) => [event.name, event.outcome])).toEqual([
            ["a", "failed"],
            ["b", "skipped"],
            ["c", "skipped"],
            ["d", "skipped"]
          ])
          expect(
            written.every((event) => event.namespace === "tenant-2" && event.instance_tag === "green")
          ).toBe(true)
        })
    )

    it.effect("concurrent claimers take disjoint runnable executions and move them to running", () =>
      Effect.gen(function* () {
        // Earlier tests left runnable executions behind: take them out of the way first.
        yield* Claims.claimRunnable(10_000)
        const flow = yield* stage(
          Array.from({ length: 6 }, (_, index) => ({ name: `r${index}` })),
          []
        )
        const [first, second] = yield* Effect.all([Claims.claimRunnable(3), Claims.claimRunnable(3)], {
          concurrency: 2
        })
        const claimed = [...(first ?? []), ...(second ?? [])].map((row) => row.name).sort()
        expect(claimed).toEqual(["r0", "r1", "r2", "r3", "r4", "r5"])
        expect(Object.values(yield* states(flow.flowId)).every((state) => state === "running")).toBe(true)
        expect(yield* Claims.claimRunnable(10)).toEqual([])
      })
    )
  })
})
