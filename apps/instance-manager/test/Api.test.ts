import { describe, expect, layer } from "@effect/vitest"
import { Clock, Context, Effect, Layer, Schedule } from "effect"
import * as ApiServer from "../src/http/ApiServer.js"
import * as EventStore from "../src/state/EventStore.js"
import { live, liveCount, startManager } from "./harness.js"
import { migratedDatabase } from "./helpers.js"

const call = (url: string, method: string, body?: unknown) =>
  Effect.promise(async () => {
    const response = await fetch(url, {
      method,
      headers: { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  })

/** Waits (real time) until `condition` holds, checking every 50 ms for up to 20 s. */
const eventually = <E, R>(condition: Effect.Effect<boolean, E, R>) =>
  condition.pipe(
    Effect.filterOrFail(
      (holds) => holds,
      () => "condition did not hold within 20 s"
    ),
    Effect.retry(Schedule.spaced("50 millis").pipe(Schedule.upTo("20 seconds")))
  )

describe("HTTP API", () => {
  layer(migratedDatabase, { excludeTestServices: true, timeout: 60_000 })("a real server", (it) => {
    it.scoped("health, drain acks, group resizing and errors over HTTP; a full queue answers 503", () =>
      Effect.gen(function* () {
        const { manager } = yield* startManager({
          yaml: "groups:\n  - { key: web, desiredSize: 1, maxSurge: 2 }\n",
          lockKey: 7701,
          eventQueueCapacity: 50
        })
        const { url } = Context.get(yield* Layer.build(ApiServer.layer(manager)), ApiServer.ApiServer)
        yield* eventually(Effect.map(liveCount("web"), (count) => count === 1))
        const [instance] = yield* live("web")
        if (instance === undefined) return expect.unreachable()

        expect(yield* call(`${url}/v1/instances/${instance.id}/health`, "POST")).toEqual({
          status: 200,
          body: { instanceId: instance.id }
        })
        const unknown = yield* call(`${url}/v1/instances/nope/health`, "POST")
        expect(unknown.status).toBe(404)
        expect(unknown.body.message).toContain('No live instance "nope"')

        const resized = yield* call(`${url}/v1/groups/web`, "PUT", { desiredSize: 3 })
        expect(resized.status).toBe(200)
        expect(resized.body).toMatchObject({ tenant: "default", key: "web", desiredSize: 3, deleted: false })
        yield* eventually(Effect.map(liveCount("web"), (count) => count === 3))
        const bad = yield* call(`${url}/v1/groups/web`, "PUT", { desiredSize: -1 })
        expect(bad.status).toBe(400)
        expect((yield* call(`${url}/v1/groups/none`, "GET")).status).toBe(404)

        const notice = yield* call(`${url}/v1/instances/${instance.id}/termination-notice`, "POST")
        expect(notice.status).toBe(200)
        yield* eventually(
          Effect.map(live("web"), (rows) =>
            rows.some((row) => row.id === instance.id && row.state === "draining")
          )
        )
        expect((yield* call(`${url}/v1/instances/${instance.id}/drain-ack`, "POST")).status).toBe(200)
        yield* eventually(Effect.map(live("web"), (rows) => !rows.some((row) => row.id === instance.id)))

        const now = yield* Clock.currentTimeMillis
        const pending = yield* EventStore.pendingCount
        for (let index = pending; index < 50; index++) {
          yield* EventStore.enqueue(
            {
              type: "GroupChanged",
              tenant: "default",
              group: "web",
              term: 1,
              createdAt: new Date(now),
              dueAt: new Date(now + 3_600_000)
            },
            50
          )
        }
        const [other] = yield* live("web")
        if (other === undefined) return expect.unreachable()
        const full = yield* call(`${url}/v1/instances/${other.id}/termination-notice`, "POST")
        expect(full.status).toBe(503)
        expect(full.body.message).toContain("The event queue is full")
      })
    )
  })
})
