import { LeaderGate, RetryPolicy } from "@converge/core"
import { Notifications } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Duration, Effect, Schedule } from "effect"
import * as Claims from "../src/Claims.js"
import * as Completion from "../src/Completion.js"
import * as DepsMetrics from "../src/DepsMetrics.js"
import * as Policy from "../src/Policy.js"
import * as PushDispatcher from "../src/PushDispatcher.js"
import * as Schema from "../src/Schema.js"
import * as StaleSweeper from "../src/StaleSweeper.js"
import { events, migratedDatabase, stage, states } from "./helpers.js"

// Real sockets and real time here: wait on conditions, bounded, never on fixed sleeps.
const eventually = <E, R>(condition: Effect.Effect<boolean, E, R>, what: string) =>
  condition.pipe(
    Effect.flatMap((holds) => (holds ? Effect.void : Effect.fail("not yet" as const))),
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.timeoutFail({ duration: Duration.seconds(30), onTimeout: () => `Timed out waiting until ${what}` })
  )

const listenerSessions = (applicationName: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql<{ readonly pid: number }>`
      SELECT pid FROM pg_stat_activity WHERE application_name = ${applicationName} AND datname = current_database()`
  )

const terminateListener = (applicationName: string) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`
      SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE application_name = ${applicationName} AND datname = current_database()`
  )

// Reconnects only after a fixed 1.5 s, so a test can write while the listener is surely away.
const slowReconnect = new RetryPolicy.RetryPolicy({
  initialDelayMs: 1500,
  multiplier: 1,
  maxDelayMs: 1500,
  maxAttempts: 0,
  jitter: new RetryPolicy.Jitter({ fraction: 0, mode: "none" }),
  nonRetryable: []
})

const startDispatcher = (applicationName: string, reconnect?: RetryPolicy.RetryPolicy) =>
  Effect.gen(function* () {
    const status = yield* DepsMetrics.makeStatus("connecting")
    const notifications = yield* Notifications.make({ applicationName, reconnect })
    yield* PushDispatcher.run({ status }).pipe(
      Effect.provideService(Notifications.Notifications, notifications)
    )
    return status
  })

const subscribed = (status: DepsMetrics.EngineStatusHandle, subscription: number) =>
  eventually(
    Effect.map(
      status.get,
      (current) => current.dispatcher === "subscribed" && current.subscriptions >= subscription
    ),
    `subscription ${subscription} is announced`
  )

const allDispatched = (flowId: string) =>
  Effect.map(events(flowId), (all) => all.length > 0 && all.every((event) => event.dispatched))

describe("PushDispatcher", () => {
  layer(migratedDatabase, { timeout: 120_000, excludeTestServices: true })("against Postgres", (it) => {
    it.scoped("dispatches a completion as soon as its NOTIFY arrives", () =>
      Effect.gen(function* () {
        const status = yield* startDispatcher("deps-push-basic")
        yield* subscribed(status, 1)
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* Completion.complete(flow.id("a"), "succeeded")
        yield* eventually(
          Effect.map(states(flow.flowId), (current) => current.b === "runnable"),
          "b is runnable"
        )
        yield* eventually(allDispatched(flow.flowId), "the events are marked dispatched")
        // Still the first subscription: the NOTIFY did it, not a replay.
        expect((yield* status.get).subscriptions).toBe(1)
      })
    )

    it.scoped("survives bad notifications and a failing event, and keeps dispatching", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        const status = yield* startDispatcher("deps-push-bad")
        yield* subscribed(status, 1)
        const poisoned = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* sql`CREATE TABLE deps_test_push_poison (downstream_id bigint PRIMARY KEY)`
        yield* sql`INSERT INTO deps_test_push_poison VALUES (${poisoned.id("b")})`
        yield* sql.unsafe(`
          CREATE FUNCTION deps_test_push_poison() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.downstream_id IN (SELECT downstream_id FROM deps_test_push_poison) THEN
              RAISE EXCEPTION 'poisoned group %', NEW.downstream_id;
            END IF;
            RETURN NEW;
          END $$`)
        yield* sql.unsafe(
          "CREATE TRIGGER deps_test_push_poison BEFORE UPDATE ON deps_edge_groups FOR EACH ROW EXECUTE FUNCTION deps_test_push_poison()"
        )
        const notifications = yield* Notifications.make()
        yield* notifications.notify(Schema.notificationChannel, "not an id")
        yield* notifications.notify(Schema.notificationChannel, "987654321")
        yield* Completion.complete(poisoned.id("a"), "succeeded")
        yield* eventually(
          Effect.map(events(poisoned.flowId), (all) => all[0]?.attempts === 1),
          "the poisoned event's failure is recorded"
        )

        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* Completion.complete(flow.id("a"), "succeeded")
        yield* eventually(
          Effect.map(states(flow.flowId), (current) => current.b === "runnable"),
          "a later completion is still dispatched"
        )
        const [poison] = yield* events(poisoned.flowId)
        expect(poison).toMatchObject({ dispatched: false, attempts: 1 })
        expect(poison?.last_error).toContain("poisoned group")
        yield* sql`DROP TRIGGER deps_test_push_poison ON deps_edge_groups`
        yield* sql`UPDATE deps_completion_events SET dispatched_at = clock_timestamp() WHERE flow_id = ${poisoned.flowId}`
      })
    )

    it.scoped("replays the events written before it started", () =>
      Effect.gen(function* () {
        const flow = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c" }],
          [
            ["a", "b"],
            ["b", "c"]
          ]
        )
        yield* Completion.complete(flow.id("a"), "failed")
        yield* startDispatcher("deps-push-start")
        yield* eventually(
          Effect.map(
            events(flow.flowId),
            (all) => all.length === 3 && all.every((event) => event.dispatched)
          ),
          "the skip cascade is dispatched"
        )
        expect(yield* states(flow.flowId)).toEqual({ a: "failed", b: "skipped", c: "skipped" })
      })
    )

    it.scoped("replays the events written while its connection was down when it resubscribes", () =>
      Effect.gen(function* () {
        const applicationName = "deps-push-replay"
        const status = yield* startDispatcher(applicationName, slowReconnect)
        yield* subscribed(status, 1)
        const flow = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c" }],
          [
            ["a", "c"],
            ["b", "c"]
          ]
        )

        yield* terminateListener(applicationName)
        yield* eventually(
          Effect.map(listenerSessions(applicationName), (rows) => rows.length === 0),
          "the listening session is gone"
        )
        yield* Completion.complete(flow.id("a"), "succeeded")
        yield* Completion.complete(flow.id("b"), "succeeded")
        // Nobody listened when those NOTIFYs went out: they are lost; only a replay can dispatch them.
        expect(yield* listenerSessions(applicationName)).toEqual([])
        expect((yield* status.get).subscriptions).toBe(1)

        yield* eventually(
          Effect.map(states(flow.flowId), (current) => current.c === "runnable"),
          "c is runnable after the replay"
        )
        expect((yield* status.get).subscriptions).toBe(2)
        yield* eventually(allDispatched(flow.flowId), "the events are marked dispatched")
      })
    )

    it.scoped(
      "two push dispatchers racing the sweeper apply every edge once: counters equal the reference",
      () =>
        Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const { edges, executions, outcomeOf } = layeredDag()
          const flow = yield* stage(executions, edges)
          yield* startDispatcher("deps-race-1")
          yield* startDispatcher("deps-race-2")
          yield* StaleSweeper.run({ interval: "5 millis", staleThresholdMs: 0 }).pipe(
            Effect.provide(LeaderGate.always)
          )

          // Workers: claim whatever is runnable and complete it with its predetermined outcome.
          const work = Effect.gen(function* () {
            const claimed = yield* Claims.claimRunnable(8)
            yield* Effect.forEach(claimed, (execution) =>
              Completion.complete(execution.id, outcomeOf(execution.name)).pipe(
                Effect.catchTag("ExecutionNotLive", () => Effect.void)
              )
            )
          })
          yield* Effect.forkScoped(Effect.repeat(work, Schedule.spaced("5 millis")))
          yield* Effect.forkScoped(Effect.repeat(work, Schedule.spaced("7 millis")))

          yield* eventually(
            Effect.map(
              sql<{
                readonly finished: boolean
              }>`SELECT finished_at IS NOT NULL AS finished FROM deps_flows WHERE id = ${flow.flowId}`,
              (rows) => rows[0]?.finished === true
            ),
            "the flow is finished"
          )
          yield* eventually(allDispatched(flow.flowId), "every event is dispatched")

          const reference = referenceStates(executions, edges, outcomeOf)
          // The workload exercises successes, failures and skips, not just a happy path.
          expect(new Set(Object.values(reference))).toEqual(new Set(["succeeded", "failed", "skipped"]))
          expect(yield* states(flow.flowId)).toEqual(reference)
          const groups = yield* sql<{
            readonly name: string
            readonly total: number
            readonly succeeded: number
            readonly not_succeeded: number
            readonly reference_succeeded: number
            readonly reference_not_succeeded: number
            readonly unapplied: number
          }>`
          SELECT e.name, g.total, g.succeeded, g.not_succeeded,
                 count(*) FILTER (WHERE u.state = 'succeeded')::int AS reference_succeeded,
                 count(*) FILTER (WHERE u.state <> 'succeeded')::int AS reference_not_succeeded,
                 count(*) FILTER (WHERE d.applied_event_id IS NULL)::int AS unapplied
          FROM deps_edge_groups g
          JOIN deps_executions e ON e.id = g.downstream_id
          JOIN deps_edges d ON d.downstream_id = g.downstream_id
          JOIN deps_executions u ON u.id = d.upstream_id
          WHERE e.flow_id = ${flow.flowId}
          GROUP BY e.name, g.total, g.succeeded, g.not_succeeded`
          expect(groups.length).toBe(executions.length - 6)
          for (const group of groups) {
            expect({
              name: group.name,
              succeeded: group.succeeded,
              notSucceeded: group.not_succeeded
            }).toEqual({
              name: group.name,
              succeeded: group.reference_succeeded,
              notSucceeded: group.reference_not_succeeded
            })
            expect(group.succeeded + group.not_succeeded).toBe(group.total)
            expect(group.unapplied).toBe(0)
          }
        })
    )
  })
})

// Four layers of six; each node below the first waits on two or three nodes of the layer above,
// under a policy that rotates through all four (let_run, so the final states do not depend on timing).
const layeredDag = () => {
  const width = 6
  const layers = 4
  const policies = [Policy.allOf, Policy.anyOf, Policy.quorum(2), Policy.allDone]
  const name = (layer: number, index: number) => `l${layer}n${index}`
  const executions: Array<{ name: string; policy?: Policy.Policy; onSatisfied?: Policy.OnSatisfied }> = []
  const edges: Array<readonly [string, string]> = []
  for (let layer = 0; layer < layers; layer++) {
    for (let index = 0; index < width; index++) {
      if (layer === 0) {
        executions.push({ name: name(layer, index) })
        continue
      }
      const upstreams = [index, (index + 1) % width, ...(index % 2 === 0 ? [(index + 3) % width] : [])]
      executions.push({
        name: name(layer, index),
        policy: policies[(layer + index) % policies.length] ?? Policy.allOf,
        onSatisfied: "let_run"
      })
      for (const upstream of upstreams) edges.push([name(layer - 1, upstream), name(layer, index)])
    }
  }
  // About a third of the executions fail, chosen by name so every run is the same.
  const outcomeOf = (executionName: string): "succeeded" | "failed" =>
    [...executionName].reduce((sum, char) => sum + char.charCodeAt(0), 0) % 3 === 0 ? "failed" : "succeeded"
  return { executions, edges, outcomeOf }
}

// The reference evaluation: in topological (declaration) order, a node without upstreams ends with
// its outcome; a node with upstreams runs (and ends with its outcome) if its policy is satisfied by
// its upstreams' final outcomes, else it is skipped.
const referenceStates = (
  executions: ReadonlyArray<{ readonly name: string; readonly policy?: Policy.Policy }>,
  edges: ReadonlyArray<readonly [string, string]>,
  outcomeOf: (name: string) => "succeeded" | "failed"
): Record<string, string> => {
  const finalState: Record<string, string> = {}
  for (const execution of executions) {
    const upstreams = edges
      .filter(([, downstream]) => downstream === execution.name)
      .map(([upstream]) => upstream)
    if (upstreams.length === 0) {
      finalState[execution.name] = outcomeOf(execution.name)
      continue
    }
    const succeeded = upstreams.filter((upstream) => finalState[upstream] === "succeeded").length
    const decision = Policy.evaluate(execution.policy ?? Policy.allOf, {
      total: upstreams.length,
      succeeded,
      notSucceeded: upstreams.length - succeeded
    })
    finalState[execution.name] = decision === "satisfied" ? outcomeOf(execution.name) : "skipped"
  }
  return finalState
}
