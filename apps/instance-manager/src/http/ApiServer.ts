/**
 * Serving `InstancesApi` on `host:port` (port 0 picks a free one) with `@effect/platform-node`.
 * `/status`, `/metrics`, `/healthz` and `/readyz` come from `@converge/http`'s status server,
 * composed next to it by the binary.
 */
import { createServer } from "node:http"
import { StatusServer } from "@converge/http"
import { HttpApiBuilder, HttpServer } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import type { SqlClient } from "@effect/sql"
import { Context, Effect, Layer } from "effect"
import type * as InstanceManager from "../InstanceManager.js"
import * as ApiHandlers from "./ApiHandlers.js"

/** Where the running API server can be reached. */
export class ApiServer extends Context.Tag("@converge/instance-manager/ApiServer")<
  ApiServer,
  {
    /** The base URL, e.g. `http://127.0.0.1:8080` (no trailing slash). */
    readonly url: string
  }
>() {}

/** The API server for `manager`, on `host` (default `127.0.0.1`) and `port` (default 0: a free one). */
export const layer = (
  manager: InstanceManager.InstanceManager,
  options: { readonly host?: string | undefined; readonly port?: number | undefined } = {}
): Layer.Layer<ApiServer, ServeError, SqlClient.SqlClient> => {
  const located = Layer.effect(
    ApiServer,
    Effect.map(HttpServer.HttpServer, (server) => {
      const address = server.address
      return ApiServer.of({
        url:
          address._tag === "TcpAddress"
            ? `http://${address.hostname}:${address.port}`
            : HttpServer.formatAddress(address)
      })
    })
  )
  const app = HttpApiBuilder.serve().pipe(Layer.provide(ApiHandlers.layer(manager)))
  return Layer.merge(app, located).pipe(
    Layer.provide(
      NodeHttpServer.layer(createServer, {
        host: options.host ?? StatusServer.defaultHost,
        port: options.port ?? 0
      })
    )
  )
}
