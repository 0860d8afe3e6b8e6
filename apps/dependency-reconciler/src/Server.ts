/**
 * Serving the dependency reconciler: the `DepsApi` (with `/openapi.json`) on one port, and
 * `@converge/http`'s status server (`/status`, `/metrics`, `/healthz`, `/readyz`) on another.
 *
 * ```text
 *   workers ──HTTP──▶ API server (:port)          ──▶ ApiHandlers ──▶ SqlClient
 *   probes, Prometheus ──▶ status server (:statusPort)
 * ```
 */
import { createServer } from "node:http"
import type { Status } from "@converge/core"
import { StatusServer } from "@converge/http"
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { type ConfigError, Context, Effect, Layer } from "effect"
import * as ApiHandlers from "./ApiHandlers.js"

/** Where the running API server can be reached. */
export class ApiServer extends Context.Tag("@converge/dependency-reconciler/ApiServer")<
  ApiServer,
  {
    /** The base URL, e.g. `http://127.0.0.1:8080` (no trailing slash). */
    readonly url: string
    /** The bound port: the requested one, or the one the system picked for 0. */
    readonly port: number
  }
>() {}

/** How to serve; every field is optional. */
export interface Options<A, I> {
  /** Interface to bind both servers to. Default `127.0.0.1`; `0.0.0.0` accepts remote clients. */
  readonly host?: string | undefined
  /** Port of the API; 0 (the default) picks a free one. */
  readonly port?: number | undefined
  /** Port of the status server; default `CONVERGE_HTTP_PORT`, else a free one. */
  readonly statusPort?: number | undefined
  /** The app's status, served at `/status`. */
  readonly status?: Status.Status<A, I> | undefined
  /** Whether the app is ready, asked on every `/readyz`. Default: always. */
  readonly ready?: Effect.Effect<boolean> | undefined
}

/** The path of the OpenAPI document on the API server. */
export const openApiPath = "/openapi.json"

const urlOf = (address: HttpServer.Address): { readonly url: string; readonly port: number } =>
  address._tag === "TcpAddress"
    ? {
        url: `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`,
        port: address.port
      }
    : { url: HttpServer.formatAddress(address), port: 0 }

/** The API server alone, on `host:port` (port 0 picks a free one); needs a `SqlClient`. */
export const apiLayer = (options: {
  readonly host?: string | undefined
  readonly port?: number | undefined
}): Layer.Layer<ApiServer, ServeError, SqlClient.SqlClient> => {
  const located = Layer.effect(
    ApiServer,
    Effect.gen(function* () {
      const location = urlOf((yield* HttpServer.HttpServer).address)
      yield* Effect.logInfo(`API listening on ${location.url}`)
      return ApiServer.of(location)
    })
  )
  const app = HttpApiBuilder.serve().pipe(
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: openApiPath })),
    Layer.provide(ApiHandlers.layer)
  )
  return Layer.merge(app, located).pipe(
    Layer.provide(
      NodeHttpServer.layer(createServer, {
        host: options.host ?? StatusServer.defaultHost,
        port: options.port ?? 0
      })
    )
  )
}

/**
 * The API server and the status server for the layer's lifetime; both URLs are logged and
 * available as `ApiServer` and `StatusServer`. Needs a `SqlClient`.
 */
export const layer = <A = never, I = never>(
  options: Options<A, I> = {}
): Layer.Layer<
  ApiServer | StatusServer.StatusServer,
  ServeError | ConfigError.ConfigError,
  SqlClient.SqlClient
> =>
  Layer.merge(
    apiLayer(options),
    StatusServer.layer({
      host: options.host,
      port: options.statusPort,
      status: options.status,
      ready: options.ready
    })
  )
