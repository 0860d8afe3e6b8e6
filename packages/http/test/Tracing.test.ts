import { createServer } from "node:http"
import { HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ConfigError, ConfigProvider, Context, Effect, Layer, Ref } from "effect"
import * as Tracing from "../src/Tracing.js"

/** One POST the OTLP receiver got. */
interface Export {
  readonly path: string
  readonly headers: Readonly<Record<string, string | undefined>>
  readonly body: Uint8Array
}

/** A real OTLP/HTTP receiver on a free port for the current scope, recording every request. */
const startReceiver = Effect.gen(function* () {
  const received = yield* Ref.make<ReadonlyArray<Export>>([])
  const record = Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const body = new Uint8Array(yield* request.arrayBuffer)
    yield* Ref.update(received, (all) => [...all, { path: request.url, headers: request.headers, body }])
    return HttpServerResponse.empty()
  }).pipe(Effect.orDie)
  const context = yield* Layer.build(
    HttpServer.serve(record).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 }))
    )
  )
  const address = Context.get(context, HttpServer.HttpServer).address
  const port = address._tag === "TcpAddress" ? address.port : 0
  return { url: `http://127.0.0.1:${port}`, received: Ref.get(received) }
})

const withEnv = (variables: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(variables))))

/** A reconcile span, run with the tracing layer built and closed (which flushes) around it. */
const reconcileTraced = (options: Tracing.Options, variables: Record<string, string>) =>
  Effect.void.pipe(
    Effect.withSpan("converge.reconcile", { attributes: { key: "k1" } }),
    Effect.provide(Tracing.layer(options)),
    withEnv(variables)
  )

interface JsonAttribute {
  readonly key: string
  readonly value: { readonly stringValue?: string }
}

interface JsonTraces {
  readonly resourceSpans: ReadonlyArray<{
    readonly resource: { readonly attributes: ReadonlyArray<JsonAttribute> }
    readonly scopeSpans: ReadonlyArray<{
      readonly spans: ReadonlyArray<{
        readonly name: string
        readonly attributes: ReadonlyArray<JsonAttribute>
      }>
    }>
  }>
}

const attributesOf = (attributes: ReadonlyArray<JsonAttribute>) =>
  Object.fromEntries(attributes.map(({ key, value }) => [key, value.stringValue]))

const decodeJson = (body: Uint8Array): JsonTraces => JSON.parse(new TextDecoder().decode(body))

const configErrorFor = (variables: Record<string, string>) =>
  Effect.flip(Effect.scoped(Layer.build(Tracing.layer({ serviceName: "cdc-sync" })))).pipe(withEnv(variables))

describe("Tracing", () => {
  it.scopedLive(
    "exports a span with its attributes and the service as OTLP JSON to <endpoint>/v1/traces",
    () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver
        yield* reconcileTraced(
          { serviceName: "cdc-sync", serviceVersion: "1.2.3" },
          { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: "http/json" }
        )
        const exports = yield* receiver.received
        expect(exports.map(({ path }) => path)).toEqual(["/v1/traces"])
        const request = exports[0] as Export
        expect(request.headers["content-type"]).toContain("application/json")
        const [resourceSpans] = decodeJson(request.body).resourceSpans
        expect(attributesOf(resourceSpans?.resource.attributes ?? [])).toMatchObject({
          "service.name": "cdc-sync",
          "service.version": "1.2.3"
        })
        const spans = resourceSpans?.scopeSpans.flatMap((scope) => scope.spans) ?? []
        expect(spans.map((span) => span.name)).toEqual(["converge.reconcile"])
        expect(attributesOf(spans[0]?.attributes ?? [])).toMatchObject({ key: "k1" })
      })
  )

  it.scopedLive("defaults to http/protobuf and appends v1/traces to a base path with a trailing slash", () =>
    Effect.gen(function* () {
      const receiver = yield* startReceiver
      yield* reconcileTraced(
        { serviceName: "cdc-sync" },
        { OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/otlp/` }
      )
      const exports = yield* receiver.received
      expect(exports.map(({ path }) => path)).toEqual(["/otlp/v1/traces"])
      const request = exports[0] as Export
      expect(request.headers["content-type"]).toBe("application/x-protobuf")
      const strings = new TextDecoder().decode(request.body)
      expect(strings).toContain("converge.reconcile")
      expect(strings).toContain("cdc-sync")
    })
  )

  it.scopedLive(
    "sends to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as is, with the headers, service name and resource attributes",
    () =>
      Effect.gen(function* () {
        const receiver = yield* startReceiver
        yield* reconcileTraced(
          { serviceName: "cdc-sync" },
          {
            OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9",
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/ingest/spans`,
            OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
            OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
            OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer%20general, x-tenant=acme",
            OTEL_EXPORTER_OTLP_TRACES_HEADERS: "authorization=Bearer%20traces",
            OTEL_SERVICE_NAME: "cdc-sync-eu",
            OTEL_RESOURCE_ATTRIBUTES: "deployment.environment=staging"
          }
        )
        const exports = yield* receiver.received
        expect(exports.map(({ path }) => path)).toEqual(["/ingest/spans"])
        const request = exports[0] as Export
        expect(request.headers).toMatchObject({ authorization: "Bearer traces", "x-tenant": "acme" })
        const [resourceSpans] = decodeJson(request.body).resourceSpans
        expect(attributesOf(resourceSpans?.resource.attributes ?? [])).toMatchObject({
          "service.name": "cdc-sync-eu",
          "deployment.environment": "staging"
        })
      })
  )

  it.live("without an endpoint (unset or empty) leaves Effect's own tracer in place", () =>
    Effect.gen(function* () {
      const defaultTracer = yield* Effect.tracer
      for (const variables of [{}, { OTEL_EXPORTER_OTLP_ENDPOINT: "", OTEL_SERVICE_NAME: "cdc-sync-eu" }]) {
        const tracer = yield* Effect.tracer.pipe(
          Effect.provide(Tracing.layer({ serviceName: "cdc-sync" })),
          withEnv(variables)
        )
        expect(tracer).toBe(defaultTracer)
      }
    })
  )

  it.effect.each([
    {
      variable: "OTEL_EXPORTER_OTLP_ENDPOINT",
      value: "localhost:4318",
      expectation: "Expected an http:// or https:// URL"
    },
    {
      variable: "OTEL_EXPORTER_OTLP_ENDPOINT",
      value: "not a url",
      expectation: "Expected an http:// or https:// URL"
    },
    {
      variable: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
      value: "ftp://collector/v1/traces",
      expectation: "Expected an http:// or https:// URL"
    },
    {
      variable: "OTEL_EXPORTER_OTLP_PROTOCOL",
      value: "grpc",
      expectation: "Expected one of (http/protobuf, http/json)"
    },
    {
      variable: "OTEL_EXPORTER_OTLP_HEADERS",
      value: "authorization",
      expectation: "Expected comma-separated key=value pairs"
    },
    {
      variable: "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
      value: "x-tenant=%zz",
      expectation: "not valid percent-encoding"
    }
  ])("fails with a ConfigError naming $variable when it is $value", ({ variable, value, expectation }) =>
    Effect.gen(function* () {
      const error = yield* configErrorFor({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318",
        [variable]: value
      })
      expect(ConfigError.isConfigError(error)).toBe(true)
      expect(error).toMatchObject({ _op: "InvalidData", path: [variable] })
      expect(String(error)).toContain(variable)
      expect(String(error)).toContain(expectation)
    })
  )
})
