/**
 * Runs the `@converge/http` examples over real HTTP (live clock).
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Exit } from "effect"
import * as StatusServerExample from "../examples/status-server.js"
import * as TracingExample from "../examples/tracing.js"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, body: await response.text() }
  })

describe("status-server", () => {
  it.scopedLive("serves health, readiness, the controller's status and its metrics", () =>
    Effect.gen(function* () {
      const url = yield* StatusServerExample.start(0)
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

      expect(yield* get(`${url}/healthz`)).toEqual({ status: 200, body: "ok" })
      expect(yield* get(`${url}/readyz`)).toEqual({ status: 200, body: "ready" })

      const status = yield* get(`${url}/status`)
      expect(status.status).toBe(200)
      expect(JSON.parse(status.body)).toMatchObject({ reconciled: 3, failed: 0 })
      expect(typeof JSON.parse(status.body).startedAt).toBe("string")

      const metrics = yield* get(`${url}/metrics`)
      expect(metrics.body).toContain('converge_reconcile_total{controller="orders",result="success"} 3\n')
    })
  )
})

describe("tracing", () => {
  const withEnvironment = (variables: Record<string, string>) =>
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(variables))))

  it.live("runs, exporting nothing, when no OTLP endpoint is set", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(TracingExample.program.pipe(withEnvironment({})))
      expect(Exit.isSuccess(exit)).toBe(true)
    })
  )

  it.live("fails at start, naming the variable, when the endpoint is not a URL", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        TracingExample.program.pipe(withEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: "localhost:4318" }))
      )
      expect(String(error)).toContain("OTEL_EXPORTER_OTLP_ENDPOINT")
    })
  )
})
