import { FetchHttpClient, HttpApiClient } from "@effect/platform"
import { SqlClient } from "@effect/sql"
import { describe, expect, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Api from "../src/Api.js"
import * as Server from "../src/Server.js"
import { drain, migratedDatabase } from "./helpers.js"

const serverAndDatabase = Layer.provideMerge(Server.apiLayer({ port: 0 }), migratedDatabase)

const client = Effect.flatMap(Server.ApiServer, (server) =>
  HttpApiClient.make(Api.DepsApi, { baseUrl: server.url })
).pipe(Effect.provide(FetchHttpClient.layer))

/** A raw request, to see statuses and bodies as any HTTP client would. */
const request = (method: "GET" | "POST", path: string, body?: unknown) =>
  Effect.flatMap(Server.ApiServer, (server) =>
    Effect.promise(async () => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      return { status: response.status, body: (await response.json()) as Record<string, unknown> }
    })
  )

const flowCount = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql<{ readonly count: number }>`SELECT count(*)::int AS count FROM deps_flows`.pipe(
    Effect.map(([row]) => row?.count ?? 0)
  )
)

const pipeline = {
  namespace: "api",
  instanceTag: "test",
  executions: [
    { name: "a" },
    { name: "b" },
    { name: "c" },
    { name: "vote", policy: { quorum: 2 }, onSatisfied: "let_run" as const },
    { name: "any", policy: "any_of" as const }
  ],
  edges: [
    { upstream: "a", downstream: "vote" },
    { upstream: "b", downstream: "vote" },
    { upstream: "c", downstream: "vote" },
    { upstream: "a", downstream: "any" },
    { upstream: "b", downstream: "any" }
  ]
}

describe("HTTP API", () => {
  layer(serverAndDatabase, { excludeTestServices: true, timeout: 60_000 })("over a real server", (it) => {
    it.effect("creates a flow in one call and shows every execution and group", () =>
      Effect.gen(function* () {
        const created = yield* request("POST", "/flows", pipeline)
        expect(created.status).toBe(201)
        const api = yield* client
        const flowId = String(created.body.flowId)
        const flow = yield* api.flows.get({ path: { flowId } })
        expect(flow.namespace).toBe("api")
        expect(flow.instanceTag).toBe("test")
        expect(flow.state).toBe("running")
        expect(
          Object.fromEntries(flow.executions.map((execution) => [execution.name, execution.state]))
        ).toEqual({
          a: "runnable",
          b: "runnable",
          c: "runnable",
          vote: "blocked",
          any: "blocked"
        })
        expect(
          flow.groups.map((group) => [
            group.downstream,
            group.policy,
            group.quorumK,
            group.onSatisfied,
            group.total
          ])
        ).toEqual([
          ["vote", "quorum", 2, "let_run", 3],
          ["any", "any_of", null, "cancel_remaining", 2]
        ])
      })
    )

    it.effect("claim and complete drive the cascade; a terminal execution answers 409", () =>
      Effect.gen(function* () {
        const api = yield* client
        const created = yield* api.flows.create({ payload: { ...pipeline, namespace: "claims" } })
        const claimed = yield* api.executions.claim({ payload: { limit: 10 } })
        const ours = claimed.executions.filter((execution) => execution.flowId === created.flowId)
        expect(ours.map((execution) => execution.name).sort()).toEqual(["a", "b", "c"])
        const id = (name: string) => created.executions[name] ?? ""
        const completed = yield* api.executions.complete({
          path: { executionId: id("a") },
          payload: { outcome: "succeeded" }
        })
        expect(completed.executionId).toBe(id("a"))
        expect(completed.eventId).toMatch(/^[0-9]+$/)
        yield* api.executions.complete({ path: { executionId: id("b") }, payload: { outcome: "succeeded" } })
        yield* drain(created.flowId)
        const flow = yield* api.flows.get({ path: { flowId: created.flowId } })
        const states = Object.fromEntries(
          flow.executions.map((execution) => [execution.name, execution.state])
        )
        // quorum(2) met by a and b; any_of met by a and its remaining sibling (none live) untouched.
        expect(states).toEqual({
          a: "succeeded",
          b: "succeeded",
          c: "running",
          vote: "runnable",
          any: "runnable"
        })

        const again = yield* request("POST", `/executions/${id("a")}/complete`, { outcome: "failed" })
        expect(again.status).toBe(409)
        expect(again.body).toMatchObject({
          _tag: "ExecutionNotLive",
          executionId: id("a"),
          state: "succeeded"
        })
        const typed = yield* Effect.flip(
          api.executions.complete({ path: { executionId: id("a") }, payload: { outcome: "failed" } })
        )
        expect(typed._tag).toBe("ExecutionNotLive")
      })
    )

    it.effect("a bad flow is a 400 naming the problem, and nothing is written", () =>
      Effect.gen(function* () {
        const before = yield* flowCount
        const cycle = yield* request("POST", "/flows", {
          executions: [{ name: "x" }, { name: "y" }],
          edges: [
            { upstream: "x", downstream: "y" },
            { upstream: "y", downstream: "x" }
          ]
        })
        expect(cycle.status).toBe(400)
        expect(cycle.body).toMatchObject({ _tag: "BadFlow", reason: "CycleDetected" })
        expect(String(cycle.body.message)).toContain("cycle")
        const unknown = yield* request("POST", "/flows", {
          executions: [{ name: "x" }],
          edges: [{ upstream: "x", downstream: "ghost" }]
        })
        expect(unknown.status).toBe(400)
        expect(unknown.body).toMatchObject({ _tag: "BadFlow", reason: "UnknownExecution" })
        expect(String(unknown.body.message)).toContain('"ghost"')
        const quorum = yield* request("POST", "/flows", {
          executions: [{ name: "x" }, { name: "y", policy: { quorum: 3 } }],
          edges: [{ upstream: "x", downstream: "y" }]
        })
        expect(quorum.status).toBe(400)
        expect(quorum.body).toMatchObject({ _tag: "BadFlow", reason: "BadPolicy" })
        const malformed = yield* request("POST", "/flows", { executions: [{ name: "x", policy: "most_of" }] })
        expect(malformed.status).toBe(400)
        expect(malformed.body._tag).toBe("HttpApiDecodeError")
        expect(yield* flowCount).toBe(before)
      })
    )

    it.effect("unknown ids are 404s; malformed ids and bodies are 400s", () =>
      Effect.gen(function* () {
        const getUnknown = yield* request("GET", "/flows/999999")
        expect(getUnknown.status).toBe(404)
        expect(getUnknown.body).toMatchObject({ _tag: "FlowNotFound", flowId: "999999" })
        const cancelUnknown = yield* request("POST", "/flows/999999/cancel", { mode: "cancel_all" })
        expect(cancelUnknown.status).toBe(404)
        const completeUnknown = yield* request("POST", "/executions/999999/complete", {
          outcome: "succeeded"
        })
        expect(completeUnknown.status).toBe(404)
        expect(completeUnknown.body).toMatchObject({ _tag: "ExecutionNotFound", executionId: "999999" })
        expect((yield* request("GET", "/flows/not-a-number")).status).toBe(400)
        expect((yield* request("POST", "/executions/1/complete", { outcome: "done" })).status).toBe(400)
        expect((yield* request("POST", "/executions/claim", { limit: 0 })).status).toBe(400)
      })
    )

    it.effect("cancel_pending spares running executions; cancel_all cancels them too", () =>
      Effect.gen(function* () {
        const api = yield* client
        const spec = {
          namespace: "cancel",
          instanceTag: "test",
          executions: [{ name: "root" }, { name: "next" }],
          edges: [{ upstream: "root", downstream: "next" }]
        }
        const pending = yield* api.flows.create({ payload: spec })
        const all = yield* api.flows.create({ payload: spec })
        // Claim every runnable execution, so both roots are running.
        yield* api.executions.claim({ payload: { limit: 1000 } })
        const spared = yield* api.flows.cancel({
          path: { flowId: pending.flowId },
          payload: { mode: "cancel_pending" }
        })
        expect(spared.cancelled).toEqual([pending.executions.next])
        expect(spared.events).toHaveLength(1)
        const everything = yield* api.flows.cancel({
          path: { flowId: all.flowId },
          payload: { mode: "cancel_all" }
        })
        expect(everything.cancelled).toEqual([all.executions.root, all.executions.next])
        const pendingFlow = yield* api.flows.get({ path: { flowId: pending.flowId } })
        expect(pendingFlow.state).toBe("cancelled")
        expect(pendingFlow.executions.map((execution) => execution.state)).toEqual(["running", "cancelled"])
        expect(pendingFlow.executions[1]?.reason).toContain("cancel_pending")
        const allFlow = yield* api.flows.get({ path: { flowId: all.flowId } })
        expect(allFlow.executions.map((execution) => execution.state)).toEqual(["cancelled", "cancelled"])
      })
    )

    it.effect("serves its OpenAPI document", () =>
      Effect.gen(function* () {
        const document = yield* request("GET", Server.openApiPath)
        expect(document.status).toBe(200)
        expect(Object.keys(document.body.paths as object).sort()).toEqual([
          "/executions/claim",
          "/executions/{executionId}/complete",
          "/flows",
          "/flows/{flowId}",
          "/flows/{flowId}/cancel"
        ])
      })
    )
  })
})
