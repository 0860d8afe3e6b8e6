/**
 * OTLP/HTTP export of Effect spans, switched on by the standard OpenTelemetry variables:
 *
 * ```
 * Effect.withSpan ──▶ OtlpTracer ──POST, in batches──▶ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
 *                    (every 5 s, at 1000 spans,          else OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces
 *                     and when the layer closes)
 * ```
 *
 * | variable                                                     | meaning                                                       |
 * | ------------------------------------------------------------ | ------------------------------------------------------------- |
 * | `OTEL_EXPORTER_OTLP_ENDPOINT`                                | base URL; spans go to `<base>/v1/traces`                      |
 * | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`                         | full URL for spans, used as is; wins over the base URL        |
 * | `OTEL_EXPORTER_OTLP_PROTOCOL` / `…_TRACES_PROTOCOL`          | `http/protobuf` (default, as in the OTel SDKs) or `http/json` |
 * | `OTEL_EXPORTER_OTLP_HEADERS` / `…_TRACES_HEADERS`            | `key=value,key2=value2`, values percent-decoded               |
 * | `OTEL_SERVICE_NAME`                                          | overrides the `serviceName` option                            |
 * | `OTEL_RESOURCE_ATTRIBUTES`                                   | extra resource attributes, `key=value,…`                      |
 *
 * With neither endpoint set (or both empty) the layer is empty: Effect's own tracer stays in place
 * and nothing is exported. The other variables are only read once an endpoint is set.
 */
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import { FetchHttpClient } from "@effect/platform"
import { Config, ConfigError, Effect, Either, Layer, Option } from "effect"

/** Who is exporting: the `service.name` and `service.version` of the exported resource. */
export interface Options {
  /** `service.name` of the exported spans; `OTEL_SERVICE_NAME` overrides it. */
  readonly serviceName: string
  /** `service.version` of the exported spans. */
  readonly serviceVersion?: string | undefined
}

/** The OTLP/HTTP encodings this exporter speaks (gRPC is not supported). */
type Protocol = "http/protobuf" | "http/json"

/** Where and how spans are sent, as read from the environment. */
interface Target {
  readonly url: string
  readonly protocol: Protocol
  readonly headers: Readonly<Record<string, string>>
  readonly serviceName: string
}

/** An unset or empty variable is absent, as the OpenTelemetry specification asks. */
const optionalVariable = (name: string): Config.Config<Option.Option<string>> =>
  Config.option(Config.string(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

const invalid = (name: string, message: string) => ConfigError.InvalidData([name], message)

const parseHttpUrl = (name: string, raw: string): Either.Either<URL, ConfigError.ConfigError> => {
  const trimmed = raw.trim()
  const url = URL.canParse(trimmed) ? new URL(trimmed) : undefined
  return url !== undefined && (url.protocol === "http:" || url.protocol === "https:")
    ? Either.right(url)
    : Either.left(
        invalid(
          name,
          `Expected an http:// or https:// URL (e.g. http://localhost:4318), got ${JSON.stringify(raw)}`
        )
      )
}

const optionalUrl = (name: string): Config.Config<Option.Option<URL>> =>
  optionalVariable(name).pipe(
    Config.mapOrFail(
      Option.match({
        onNone: () => Either.right(Option.none()),
        onSome: (raw) => Either.map(parseHttpUrl(name, raw), Option.some)
      })
    )
  )

/** `<base>/v1/traces`, keeping any path of the base and not doubling its trailing slash. */
const withTracesPath = (base: URL): string => {
  const url = new URL(base)
  url.pathname = `${url.pathname.replace(/\/$/, "")}/v1/traces`
  return url.href
}

const parseHeader = (
  name: string,
  entry: string
): Either.Either<readonly [string, string], ConfigError.ConfigError> => {
  const separator = entry.indexOf("=")
  const key = entry.slice(0, Math.max(separator, 0)).trim().toLowerCase()
  if (key === "") {
    return Either.left(
      invalid(name, `Expected comma-separated key=value pairs, got ${JSON.stringify(entry.trim())}`)
    )
  }
  return Either.try({
    try: () => [key, decodeURIComponent(entry.slice(separator + 1).trim())] as const,
    catch: () => invalid(name, `The value of ${JSON.stringify(key)} is not valid percent-encoding`)
  })
}

const headersVariable = (name: string): Config.Config<Readonly<Record<string, string>>> =>
  Config.string(name).pipe(
    Config.withDefault(""),
    Config.mapOrFail((raw) =>
      Either.map(
        Either.all(
          raw
            .split(",")
            .filter((entry) => entry.trim() !== "")
            .map((entry) => parseHeader(name, entry))
        ),
        Object.fromEntries<string>
      )
    )
  )

const protocolVariable = (name: string): Config.Config<Option.Option<Protocol>> =>
  Config.option(Config.literal("http/protobuf", "http/json")(name))

const readTarget = (options: Options): Effect.Effect<Option.Option<Target>, ConfigError.ConfigError> =>
  Effect.gen(function* () {
    const tracesEndpoint = yield* optionalUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    const endpoint = yield* optionalUrl("OTEL_EXPORTER_OTLP_ENDPOINT")
    const url = Option.orElse(
      Option.map(tracesEndpoint, (exact) => exact.href),
      () => Option.map(endpoint, withTracesPath)
    )
    if (Option.isNone(url)) {
      return Option.none()
    }
    const tracesProtocol = yield* protocolVariable("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    const protocol = yield* protocolVariable("OTEL_EXPORTER_OTLP_PROTOCOL")
    const headers = yield* headersVariable("OTEL_EXPORTER_OTLP_HEADERS")
    const tracesHeaders = yield* headersVariable("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
    const serviceName = yield* optionalVariable("OTEL_SERVICE_NAME")
    return Option.some({
      url: url.value,
      protocol: Option.getOrElse(
        Option.orElse(tracesProtocol, () => protocol),
        (): Protocol => "http/protobuf"
      ),
      headers: { ...headers, ...tracesHeaders },
      serviceName: Option.getOrElse(serviceName, () => options.serviceName)
    })
  })

const exporter = (target: Target, serviceVersion: string | undefined): Layer.Layer<never> =>
  OtlpTracer.layer({
    url: target.url,
    headers: target.headers,
    resource: { serviceName: target.serviceName, serviceVersion }
  }).pipe(
    Layer.provide(
      target.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf
    ),
    Layer.provide(FetchHttpClient.layer)
  )

/**
 * Exports every Effect span (`Effect.withSpan`, `Effect.fn`, platform HTTP spans…) made under
 * this layer over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set; otherwise it is `Layer.empty` and costs nothing.
 * Spans are sent in batches and flushed when the layer's scope closes (waiting at most 3 s).
 * A collector that is down never fails the app: export pauses for a minute and spans are dropped.
 * Fails with a `ConfigError` naming the variable when an endpoint is not an http(s) URL, a
 * protocol is not `http/protobuf` or `http/json`, or a headers variable is not `key=value,…`.
 */
export const layer = (options: Options): Layer.Layer<never, ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.map(
      readTarget(options),
      Option.match({
        onNone: () => Layer.empty,
        onSome: (target) => exporter(target, options.serviceVersion)
      })
    )
  )
