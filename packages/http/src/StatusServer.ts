/**
 * The status server: one small HTTP server per process for probes, people and Prometheus.
 *
 * | route          | answer                                                                         |
 * |----------------|--------------------------------------------------------------------------------|
 * | `GET /healthz` | `200 ok` while the process is alive                                            |
 * | `GET /readyz`  | `200 ready` when the `ready` option says so (default: always), else `503 not ready` |
 * | `GET /status`  | the app's `Status` encoded by its schema, as JSON; `404` when none was given   |
 * | `GET /metrics` | every Effect metric as Prometheus text (format 0.0.4)                          |
 * | anything else  | `404 not found`                                                                |
 *
 * Once bound it logs `Status server listening on http://HOST:PORT`, and the `StatusServer`
 * service holds that URL, so a port of 0 (any free port) is easy to find.
 */
import { createServer } from "node:http"
import type { Status } from "@converge/core"
import { HttpMiddleware, HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import { Config, type ConfigError, Context, Effect, Layer } from "effect"
import * as PrometheusMetrics from "./PrometheusMetrics.js"

/** Where a running status server can be reached. */
export class StatusServer extends Context.Tag("@converge/http/StatusServer")<
  StatusServer,
  {
    /** The base URL, e.g. `http://127.0.0.1:9464` (no trailing slash). */
    readonly url: string
    /** The address the server is bound to. */
    readonly host: string
    /** The bound port: the requested one, or the port the system picked for 0. */
    readonly port: number
  }
>() {}

/** How to run the status server; every field is optional. */
export interface Options<A, I> {
  /** Interface to bind. Default `127.0.0.1` (this machine only); use `0.0.0.0` to accept remote scrapes. */
  readonly host?: string | undefined
  /** Port to bind, 0 for any free port. Default: `CONVERGE_HTTP_PORT`, else 0. */
  readonly port?: number | undefined
  /** The app's status, served at `/status`. */
  readonly status?: Status.Status<A, I> | undefined
  /** Whether the app is ready to serve, asked on every `/readyz`. Default: always ready. */
  readonly ready?: Effect.Effect<boolean> | undefined
}

/** The interface bound when `host` is not given: reachable from this machine only. */
export const defaultHost = "127.0.0.1"

/** `CONVERGE_HTTP_PORT`: the port to bind when the `port` option is absent (0, the default, picks a free one). */
export const portConfig: Config.Config<number> = Config.integer("CONVERGE_HTTP_PORT").pipe(
  Config.validate({
    message: "Expected a port number from 0 to 65535 (0 picks a free port)",
    validation: (port) => port >= 0 && port <= 65535
  }),
  Config.withDefault(0)
)

const notFound = HttpServerResponse.text("not found", { status: 404 })

const readiness = (ready: Effect.Effect<boolean>) =>
  ready.pipe(
    Effect.map((isReady) =>
      isReady ? HttpServerResponse.text("ready") : HttpServerResponse.text("not ready", { status: 503 })
    ),
    Effect.catchAllDefect((defect) =>
      Effect.as(
        Effect.logWarning("readiness check failed", defect),
        HttpServerResponse.text("readiness check failed", { status: 503 })
      )
    )
  )

const statusResponse = <A, I>(status: Status.Status<A, I> | undefined) =>
  status === undefined
    ? HttpServerResponse.text("no status configured", { status: 404 })
    : status.encoded.pipe(
        Effect.mapError((error) => `status does not match its schema: ${error.message}`),
        Effect.flatMap((encoded) =>
          HttpServerResponse.json(encoded).pipe(
            Effect.mapError((error) => `encoded status is not JSON: ${String(error.reason.error)}`)
          )
        ),
        Effect.catchAll((reason) =>
          Effect.as(Effect.logError(reason), HttpServerResponse.text(reason, { status: 500 }))
        )
      )

const metricsResponse = Effect.flatMap(PrometheusMetrics.PrometheusMetrics, ({ scrape }) => scrape).pipe(
  Effect.map((exposition) =>
    HttpServerResponse.text(exposition, { contentType: PrometheusMetrics.contentType })
  ),
  Effect.catchTag("ScrapeError", (error) =>
    Effect.as(
      Effect.logError("metrics scrape failed", error),
      HttpServerResponse.text(error.message, { status: 500 })
    )
  )
)

const routes = <A, I>(options: Options<A, I>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/healthz", HttpServerResponse.text("ok")),
    HttpRouter.get("/readyz", readiness(options.ready ?? Effect.succeed(true))),
    HttpRouter.get("/status", statusResponse(options.status)),
    HttpRouter.get("/metrics", metricsResponse),
    Effect.catchTag("RouteNotFound", () => notFound)
  )

const urlOf = (
  address: HttpServer.Address
): { readonly host: string; readonly port: number; readonly url: string } =>
  address._tag === "TcpAddress"
    ? {
        host: address.hostname,
        port: address.port,
        url: `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
      }
    : { host: address.path, port: 0, url: HttpServer.formatAddress(address) }

const serve = <A, I>(options: Options<A, I>) =>
  Layer.scoped(
    StatusServer,
    Effect.gen(function* () {
      yield* HttpServer.serveEffect(routes(options))
      const location = urlOf((yield* HttpServer.HttpServer).address)
      yield* Effect.logInfo(`Status server listening on ${location.url}`)
      return StatusServer.of(location)
    })
  ).pipe(HttpMiddleware.withTracerDisabledWhen(() => true))

/**
 * Binds the status server for the layer's lifetime and logs its URL. Fails with a `ServeError`
 * when the port cannot be bound and a `ConfigError` when `CONVERGE_HTTP_PORT` is not a port.
 * Probe and scrape requests are not traced.
 */
export const layer = <A = never, I = never>(
  options: Options<A, I> = {}
): Layer.Layer<StatusServer, ServeError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const port = options.port === undefined ? yield* portConfig : options.port
      const host = options.host ?? defaultHost
      return serve(options).pipe(
        Layer.provide(NodeHttpServer.layerServer(createServer, { host, port })),
        Layer.provide(PrometheusMetrics.layer)
      )
    })
  )
