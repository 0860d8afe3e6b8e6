import { LeaderGate, type Sweeper } from "@converge/core"
import { TestClocks } from "@converge/testing"
import { SqlClient, type SqlError } from "@effect/sql"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, Ref } from "effect"
import * as Completion from "../src/Completion.js"
import * as DepsMetrics from "../src/DepsMetrics.js"
import * as StaleSweeper from "../src/StaleSweeper.js"
import { events, migratedDatabase, stage, states } from "./helpers.js"

const expectAddsUp = (report: StaleSweeper.SweepReport) =>
  expect(report.reconciled + report.noop + report.errors).toBe(report.scanned)

// Each test starts from an outbox with nothing pending, whatever the tests before it left.
const settleOutbox = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) =>
    sql`UPDATE deps_completion_events SET dispatched_at = clock_timestamp() WHERE dispatched_at IS NULL`
)

// Makes the flow's pending events look committed `ms` milliseconds ago.
const age = (flowId: string, ms: number) =>
  Effect.flatMap(
    SqlClient.SqlClient,
    (sql) => sql`
      UPDATE deps_completion_events SET committed_at = clock_timestamp() - make_interval(secs => ${ms}::float8 / 1000)
      WHERE flow_id = ${flowId} AND dispatched_at IS NULL`
  )

// A flow of `count` root executions, all succeeded, with their `count` events written in one statement.
const bulkEvents = (count: number, labels: { readonly namespace: string; readonly instanceTag: string }) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const flow = yield* stage(
      Array.from({ length: count }, (_, index) => ({ name: `e${index}` })),
      [],
      labels
    )
    yield* sql`
      WITH done AS (
        UPDATE deps_executions SET state = 'succeeded', finished_at = clock_timestamp()
        WHERE flow_id = ${flow.flowId} RETURNING id
      )
      INSERT INTO deps_completion_events (execution_id, flow_id, outcome, namespace, instance_tag)
      SELECT id, ${flow.flowId}, 'succeeded', ${labels.namespace}, ${labels.instanceTag} FROM done ORDER BY id`
    return flow
  })

describe("StaleSweeper", () => {
  it.layer(migratedDatabase, { timeout: 120_000 })("against Postgres", (it) => {
    it.effect("takes only events older than staleThresholdMs (default 1000)", () =>
      Effect.gen(function* () {
        // Ages far from each threshold, so a loaded machine's real delays between these statements
        // cannot move an event across one; "fresh" is committed in the future, so it stays fresh.
        yield* settleOutbox
        const fresh = yield* stage([{ name: "a" }], [])
        const twoSeconds = yield* stage([{ name: "a" }], [])
        const halfMinute = yield* stage([{ name: "a" }], [])
        const twoMinutes = yield* stage([{ name: "a" }], [])
        for (const flow of [fresh, twoSeconds, halfMinute, twoMinutes]) {
          yield* Completion.complete(flow.id("a"), "succeeded")
        }
        yield* age(fresh.flowId, -600_000)
        yield* age(twoSeconds.flowId, 2000)
        yield* age(halfMinute.flowId, 30_000)
        yield* age(twoMinutes.flowId, 120_000)
        const dispatched = (flow: { readonly flowId: string }) =>
          Effect.map(events(flow.flowId), (rows) => rows.map((event) => event.dispatched))

        const minute = yield* StaleSweeper.tick({ staleThresholdMs: 60_000 })
        expect(minute).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 0, errors: 0 })
        expect(yield* dispatched(twoMinutes)).toEqual([true])
        expect(yield* dispatched(halfMinute)).toEqual([false])

        const tenSeconds = yield* StaleSweeper.tick({ staleThresholdMs: 10_000 })
        expect(tenSeconds).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 0, errors: 0 })
        expect(yield* dispatched(halfMinute)).toEqual([true])
        expect(yield* dispatched(twoSeconds)).toEqual([false])

        expect(StaleSweeper.defaultStaleThresholdMs).toBe(1000)
        const byDefault = yield* StaleSweeper.tick()
        expect(byDefault).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 0, errors: 0 })
        expect(yield* dispatched(twoSeconds)).toEqual([true])
        expect(yield* dispatched(fresh)).toEqual([false])
      })
    )

    it.effect("selects at most 1000 events per tick, the lowest ids first, dispatched in id order", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* settleOutbox
        const flow = yield* bulkEvents(1003, { namespace: "bulk", instanceTag: "t" })
        // Commit times in an order unrelated to ids: the sweeper must still go by id.
        yield* sql`
          UPDATE deps_completion_events SET committed_at = clock_timestamp() - make_interval(secs => 10 + random() * 100)
          WHERE flow_id = ${flow.flowId}`

        const first = yield* StaleSweeper.tick()
        expect(first).toEqual({ scanned: 1000, reconciled: 1000, noop: 0, filtered: 0, errors: 0 })
        const rows = yield* sql<{ readonly id: string; readonly dispatched: boolean }>`
          SELECT id::text AS id, dispatched_at IS NOT NULL AS dispatched FROM deps_completion_events
          WHERE flow_id = ${flow.flowId} ORDER BY deps_completion_events.id`
        expect(
          rows
            .slice(0, 1000)
            .filter((row) => !row.dispatched)
            .map((row) => row.id)
        ).toEqual([])
        expect(rows.slice(1000).map((row) => row.dispatched)).toEqual([false, false, false])
        const byDispatchTime = yield* sql<{ readonly id: string }>`
          SELECT id::text AS id FROM deps_completion_events
          WHERE flow_id = ${flow.flowId} AND dispatched_at IS NOT NULL ORDER BY dispatched_at, deps_completion_events.id`
        expect(byDispatchTime.map((row) => row.id)).toEqual(rows.slice(0, 1000).map((row) => row.id))

        const second = yield* StaleSweeper.tick()
        expect(second).toEqual({ scanned: 3, reconciled: 3, noop: 0, filtered: 0, errors: 0 })
        expect(yield* StaleSweeper.tick()).toEqual({
          scanned: 0,
          reconciled: 0,
          noop: 0,
          filtered: 0,
          errors: 0
        })
      })
    )

    it.effect("filters by namespace and instance tag in SQL, and sees the events the cascade wrote", () =>
      Effect.gen(function* () {
        yield* settleOutbox
        // 1001 stale events of another namespace with lower ids: filtering after a LIMIT would starve ours.
        const other = yield* bulkEvents(1001, { namespace: "other", instanceTag: "x" })
        yield* age(other.flowId, 5000)
        const otherTag = yield* stage([{ name: "a" }], [], { namespace: "team", instanceTag: "y" })
        yield* Completion.complete(otherTag.id("a"), "succeeded")
        yield* age(otherTag.flowId, 5000)
        const ours = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c" }],
          [
            ["a", "b"],
            ["b", "c"]
          ],
          { namespace: "team", instanceTag: "x" }
        )
        yield* Completion.complete(ours.id("a"), "failed")
        yield* age(ours.flowId, 5000)

        const filters = { namespace: "team", instanceTag: "x" }
        const first = yield* StaleSweeper.tick(filters)
        expect(first).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 1002, errors: 0 })
        expect(yield* states(ours.flowId)).toEqual({ a: "failed", b: "skipped", c: "blocked" })
        // b's skipped event inherited the labels, so the filtered sweeper takes it once it is stale.
        expect((yield* events(ours.flowId)).map((event) => [event.namespace, event.instance_tag])).toEqual([
          ["team", "x"],
          ["team", "x"]
        ])
        yield* age(ours.flowId, 5000)
        const second = yield* StaleSweeper.tick(filters)
        expect(second).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 1002, errors: 0 })
        yield* age(ours.flowId, 5000)
        const third = yield* StaleSweeper.tick(filters)
        expect(third).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 1002, errors: 0 })
        expect(yield* states(ours.flowId)).toEqual({ a: "failed", b: "skipped", c: "skipped" })

        const byNamespace = yield* StaleSweeper.tick({ namespace: "team" })
        expect(byNamespace).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 1001, errors: 0 })
        expect((yield* events(otherTag.flowId)).map((event) => event.dispatched)).toEqual([true])
        const byTag = yield* StaleSweeper.tick({ instanceTag: "x" })
        expect(byTag).toEqual({ scanned: 1000, reconciled: 1000, noop: 0, filtered: 0, errors: 0 })
      })
    )

    it.effect("a poison event does not starve the batch; its attempts grow and the metrics show it", () =>
      Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        yield* settleOutbox
        const poisoned = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        const healthy = yield* stage(
          [{ name: "a" }, { name: "b" }, { name: "c" }],
          [
            ["a", "c"],
            ["b", "c"]
          ]
        )
        yield* sql`CREATE TABLE deps_test_poison (downstream_id bigint PRIMARY KEY)`
        yield* sql`INSERT INTO deps_test_poison VALUES (${poisoned.id("b")})`
        yield* sql.unsafe(`
          CREATE FUNCTION deps_test_poison() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF NEW.downstream_id IN (SELECT downstream_id FROM deps_test_poison) THEN
              RAISE EXCEPTION 'poisoned group %', NEW.downstream_id;
            END IF;
            RETURN NEW;
          END $$`)
        yield* sql.unsafe(
          "CREATE TRIGGER deps_test_poison BEFORE UPDATE ON deps_edge_groups FOR EACH ROW EXECUTE FUNCTION deps_test_poison()"
        )
        yield* Completion.complete(poisoned.id("a"), "succeeded")
        yield* Completion.complete(healthy.id("a"), "succeeded")
        yield* Completion.complete(healthy.id("b"), "succeeded")
        const errorsBefore = yield* Metric.value(
          Metric.tagged(DepsMetrics.dispatchErrorsTotal, "path", "sweeper")
        )

        const first = yield* StaleSweeper.tick({ staleThresholdMs: 0 })
        expect(first).toEqual({ scanned: 3, reconciled: 2, noop: 0, filtered: 0, errors: 1 })
        expect(yield* states(healthy.flowId)).toEqual({ a: "succeeded", b: "succeeded", c: "runnable" })
        const second = yield* StaleSweeper.tick({ staleThresholdMs: 0 })
        expect(second).toEqual({ scanned: 1, reconciled: 0, noop: 0, filtered: 0, errors: 1 })
        const [poison] = yield* events(poisoned.flowId)
        expect(poison).toMatchObject({ dispatched: false, attempts: 2 })
        expect(poison?.last_error).toContain(`poisoned group ${poisoned.id("b")}`)

        const summary = yield* DepsMetrics.refreshPending()
        expect(summary).toMatchObject({ pendingEvents: 1, maxPendingAttempts: 2 })
        expect((yield* Metric.value(DepsMetrics.maxPendingAttempts)).value).toBe(2)
        const errorsAfter = yield* Metric.value(
          Metric.tagged(DepsMetrics.dispatchErrorsTotal, "path", "sweeper")
        )
        expect(errorsAfter.count - errorsBefore.count).toBe(2)

        yield* sql`DROP TRIGGER deps_test_poison ON deps_edge_groups`
        const healed = yield* StaleSweeper.tick({ staleThresholdMs: 0 })
        expect(healed).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 0, errors: 0 })
        expect(yield* states(poisoned.flowId)).toEqual({ a: "succeeded", b: "runnable" })
      })
    )

    it.scoped("with the push path off, a crashed chain of depth D drains in at most D ticks", () =>
      Effect.gen(function* () {
        yield* settleOutbox
        const depth = 6
        const names = Array.from({ length: depth }, (_, index) => `x${index}`)
        const chain = yield* stage(
          names.map((name) => ({ name })),
          names.slice(1).map((name, index) => [names[index] ?? "", name] as const)
        )
        // The crash: x0's failure committed, nothing dispatched.
        yield* Completion.complete(chain.id("x0"), "failed")

        const reports = yield* Ref.make<ReadonlyArray<StaleSweeper.SweepReport>>([])
        const observer = {
          notify: (event: Sweeper.SweeperEvent<StaleSweeper.SweepReport, SqlError.SqlError>) =>
            event._tag === "TickCompleted"
              ? Ref.update(reports, (all) => [...all, event.report])
              : Effect.void
        }
        const status = yield* DepsMetrics.makeStatus()
        yield* StaleSweeper.run({ interval: "1 second", staleThresholdMs: 0, observer, status }).pipe(
          Effect.provide(LeaderGate.always)
        )
        const drained = Effect.map(
          events(chain.flowId),
          (all) => all.length === depth && all.every((e) => e.dispatched)
        )
        yield* TestClocks.advanceUntil(drained, { step: "100 millis", max: "60 seconds" })

        const seen = yield* Ref.get(reports)
        expect(seen.length).toBeLessThanOrEqual(depth)
        for (const report of seen) expectAddsUp(report)
        expect(seen.reduce((sum, report) => sum + report.reconciled, 0)).toBe(depth)
        expect(Object.values(yield* states(chain.flowId))).toEqual([
          "failed",
          ...names.slice(1).map(() => "skipped")
        ])
        const current = yield* status.get
        expect(current.sweeps).toBe(seen.length)
        expect(current.lastSweep).toEqual(seen[seen.length - 1])
      })
    )

    it.effect("runOnce sweeps now and reports to the observer", () =>
      Effect.gen(function* () {
        yield* settleOutbox
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* Completion.complete(flow.id("a"), "succeeded")
        const told = yield* Ref.make<ReadonlyArray<string>>([])
        const report = yield* StaleSweeper.runOnce({
          staleThresholdMs: 0,
          observer: { notify: (event) => Ref.update(told, (all) => [...all, event._tag]) }
        })
        expect(report).toEqual({ scanned: 1, reconciled: 1, noop: 0, filtered: 0, errors: 0 })
        expect(yield* Ref.get(told)).toEqual(["TickCompleted"])
        expect((yield* states(flow.flowId)).b).toBe("runnable")
      })
    )
  })
})
