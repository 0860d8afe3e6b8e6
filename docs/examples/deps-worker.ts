/**
 * A worker of the dependency reconciler over HTTP: a typed client derived from the same `DepsApi`
 * definition the server implements. It creates a flow, then claims runnable executions and
 * completes them until the flow has finished.
 */
import { Api } from "@converge/dependency-reconciler"
import { FetchHttpClient, HttpApiClient } from "@effect/platform"
import { Effect, Schedule } from "effect"

// #region flow
/** A release: build, then two test suites, then publish once both succeeded. */
export const release: typeof Api.FlowSpec.Type = {
  namespace: "releases",
  instanceTag: "eu-1",
  executions: [
    { name: "build" },
    { name: "test-unit" },
    { name: "test-e2e" },
    { name: "publish", policy: "all_of" }
  ],
  edges: [
    { upstream: "build", downstream: "test-unit" },
    { upstream: "build", downstream: "test-e2e" },
    { upstream: "test-unit", downstream: "publish" },
    { upstream: "test-e2e", downstream: "publish" }
  ]
}
// #endregion flow

// #region worker
/**
 * Creates `release` on the engine at `baseUrl` (e.g. `http://127.0.0.1:8080`), works every
 * execution it can claim (each "succeeds"), and returns the finished flow.
 */
export const runRelease = (baseUrl: string) =>
  Effect.gen(function* () {
    const client = yield* HttpApiClient.make(Api.DepsApi, { baseUrl })
    const { flowId } = yield* client.flows.create({ payload: release })

    const workOnce = Effect.gen(function* () {
      const { executions } = yield* client.executions.claim({ payload: { limit: 10 } })
      for (const execution of executions) {
        yield* client.executions.complete({
          path: { executionId: execution.id },
          payload: { outcome: "succeeded" }
        })
      }
      const flow = yield* client.flows.get({ path: { flowId } })
      // The engine dispatches each completion to the downstreams; poll until the flow ends.
      return flow.finishedAt === null ? yield* Effect.fail("flow still running" as const) : flow
    })
    return yield* workOnce.pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 600 }))
  }).pipe(Effect.provide(FetchHttpClient.layer))
// #endregion worker
