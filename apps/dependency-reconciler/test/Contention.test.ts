import { RetryPolicy } from "@converge/core"
import { SqlClient } from "@effect/sql"
import { expect, layer } from "@effect/vitest"
import { Effect, Metric } from "effect"
import * as Completion from "../src/Completion.js"
import * as DepsMetrics from "../src/DepsMetrics.js"
import * as Dispatch from "../src/Dispatch.js"
import { events, migratedDatabase, stage, states } from "./helpers.js"

const quickRetries: Dispatch.Options = {
  contentionRetry: {
    policy: new RetryPolicy.RetryPolicy({
      initialDelayMs: 1,
      multiplier: 1,
      maxDelayMs: 1,
      maxAttempts: 3,
      jitter: new RetryPolicy.Jitter({ fraction: 0, mode: "none" }),
      nonRetryable: []
    })
  }
}

// A test-only trigger raises a serialization failure (40001) on the first `failures` updates of
// the group of `downstreamId`. A sequence counts the attempts: nextval survives the rollback.
const injectContention = (downstreamId: string, failures: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS deps_test_contention (downstream_id bigint PRIMARY KEY, failures int)`
    yield* sql`INSERT INTO deps_test_contention VALUES (${downstreamId}, ${failures})`
    yield* sql.unsafe(`
      CREATE OR REPLACE FUNCTION deps_test_contend() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM deps_test_contention WHERE downstream_id = NEW.downstream_id)
           AND nextval('deps_test_contention_attempts') <=
               (SELECT failures FROM deps_test_contention WHERE downstream_id = NEW.downstream_id) THEN
          RAISE EXCEPTION 'injected contention' USING ERRCODE = '40001';
        END IF;
        RETURN NEW;
      END $$`)
    yield* sql`CREATE SEQUENCE IF NOT EXISTS deps_test_contention_attempts`
    yield* sql`ALTER SEQUENCE deps_test_contention_attempts RESTART`
    yield* sql`DROP TRIGGER IF EXISTS deps_test_contend ON deps_edge_groups`
    yield* sql.unsafe(
      "CREATE TRIGGER deps_test_contend BEFORE UPDATE ON deps_edge_groups FOR EACH ROW EXECUTE FUNCTION deps_test_contend()"
    )
  })

layer(migratedDatabase, { excludeTestServices: true })(
  "Dispatch under contention (real clock, 1 ms backoff)",
  (it) => {
    it.effect("a hop that hits contention is retried in a fresh transaction and applied once", () =>
      Effect.gen(function* () {
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* injectContention(flow.id("b"), 2)
        const eventId = yield* Completion.complete(flow.id("a"), "succeeded")
        const retriesBefore = yield* Metric.value(DepsMetrics.contentionRetriesTotal)
        const result = yield* Dispatch.dispatch(eventId, quickRetries)
        expect((yield* Metric.value(DepsMetrics.contentionRetriesTotal)).count - retriesBefore.count).toBe(2)
        expect(result._tag === "Dispatched" ? result.hops.map((hop) => hop.decided) : []).toEqual([
          "satisfied"
        ])
        expect((yield* states(flow.flowId)).b).toBe("runnable")
        const [event] = yield* events(flow.flowId)
        expect([event?.dispatched, event?.attempts]).toEqual([true, 1])
      })
    )

    it.effect("exhausted contention leaves the event pending with its error, for the sweeper", () =>
      Effect.gen(function* () {
        const flow = yield* stage([{ name: "a" }, { name: "b" }], [["a", "b"]])
        yield* injectContention(flow.id("b"), 1_000)
        const eventId = yield* Completion.complete(flow.id("a"), "succeeded")
        const failure = yield* Effect.flip(Dispatch.dispatch(eventId, quickRetries))
        expect(failure._tag).toBe("DispatchFailed")
        expect((yield* states(flow.flowId)).b).toBe("blocked")
        const [event] = yield* events(flow.flowId)
        expect(event?.dispatched).toBe(false)
        expect(event?.attempts).toBe(1)
        expect(event?.last_error).toContain("RetryExhausted")

        // Once the contention is gone, the next try completes it and counts as a retry.
        const sql = yield* SqlClient.SqlClient
        yield* sql`DROP TRIGGER deps_test_contend ON deps_edge_groups`
        const retriesBefore = yield* Metric.value(DepsMetrics.dispatchRetriesTotal)
        yield* Dispatch.dispatch(eventId, quickRetries)
        expect((yield* Metric.value(DepsMetrics.dispatchRetriesTotal)).count - retriesBefore.count).toBe(1)
        expect((yield* states(flow.flowId)).b).toBe("runnable")
      })
    )
  }
)
