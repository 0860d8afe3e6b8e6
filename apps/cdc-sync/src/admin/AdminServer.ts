/**
 * The admin server on `server.admin_bind`, apart from the status server so that it can stay on a
 * private interface while `/status` and `/metrics` are scraped:
 *
 * | route                          | answer                                                          |
 * |--------------------------------|-----------------------------------------------------------------|
 * | `POST /reindex?index=NAME`     | `202 {"started":"NAME"}`: a reindex of NAME began in the background |
 * | `POST /reindex {"index":NAME}` | the same, with a JSON body                                      |
 * | `GET /reindex`                 | `200 {"running":[…]}`: the indexes reindexing now               |
 * | unknown index                  | `404 {"error":…}` naming the configured indexes                 |
 * | index already reindexing       | `409 {"error":…}`                                               |
 * | no index given, bad JSON       | `400 {"error":…}`                                               |
 */
import { createServer } from "node:http"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { Reindexer } from "../reindex/Reindexer.js"

/** Where a running admin server can be reached. */
export class AdminServer extends Context.Tag("@converge/cdc-sync/AdminServer")<
  AdminServer,
  {
    /** The base URL, e.g. `http://127.0.0.1:9465` (no trailing slash). */
    readonly url: string
    /** The bound port: the requested one, or the one the system picked for 0. */
    readonly port: number
  }
>() {}

/** How to serve. */
export interface Options {
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Port to bind; 0 picks a free one. */
  readonly port: number
  readonly reindexer: Reindexer
}

/** The JSON body of `POST /reindex`. */
export const ReindexRequest = Schema.Struct({ index: Schema.String })

/** The answer to an accepted `POST /reindex`. */
export const ReindexStarted = Schema.Struct({ started: Schema.String })

const failure = (status: number, error: string) => HttpServerResponse.unsafeJson({ error }, { status })

const indexOfRequest = Effect.gen(function* () {
  const request = yield* HttpServerRequest.HttpServerRequest
  const query = new URL(request.url, "http://admin").searchParams.get("index")
  if (query !== null && query !== "") return Option.some(query)
  const body = yield* request.text
  if (body.trim() === "") return Option.none<string>()
  const decoded = yield* Schema.decodeUnknown(Schema.parseJson(ReindexRequest))(body)
  return Option.some(decoded.index)
})

const reindexRoute = (reindexer: Reindexer) =>
  indexOfRequest.pipe(
    Effect.flatMap(
      Option.match({
        onNone: () =>
          Effect.succeed(
            failure(400, 'name the index: POST /reindex?index=NAME or a JSON body {"index":"NAME"}')
          ),
        onSome: (index) =>
          reindexer.start(index).pipe(
            Effect.as(HttpServerResponse.unsafeJson({ started: index }, { status: 202 })),
            Effect.catchTags({
              UnknownIndex: (error) => Effect.succeed(failure(404, error.message)),
              AlreadyReindexing: (error) => Effect.succeed(failure(409, error.message))
            })
          )
      })
    ),
    Effect.catchTags({
      ParseError: (error) =>
        Effect.succeed(failure(400, `the body is not {"index":"NAME"}: ${error.message}`)),
      RequestError: (error) => Effect.succeed(failure(400, `the request could not be read: ${error.message}`))
    })
  )

const routes = (reindexer: Reindexer) =>
  HttpRouter.empty.pipe(
    HttpRouter.post("/reindex", reindexRoute(reindexer)),
    HttpRouter.get(
      "/reindex",
      Effect.map(reindexer.running, (running) => HttpServerResponse.unsafeJson({ running }))
    ),
    Effect.catchTag("RouteNotFound", () =>
      Effect.succeed(failure(404, "not found: the admin server answers POST /reindex and GET /reindex"))
    )
  )

const urlOf = (address: HttpServer.Address): { readonly url: string; readonly port: number } =>
  address._tag === "TcpAddress"
    ? {
        url: `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`,
        port: address.port
      }
    : { url: HttpServer.formatAddress(address), port: 0 }

/** Binds the admin server for the layer's lifetime and logs its URL; fails with `ServeError` when the port is taken. */
export const layer = (options: Options): Layer.Layer<AdminServer, ServeError> =>
  Layer.scoped(
    AdminServer,
    Effect.gen(function* () {
      yield* HttpServer.serveEffect(routes(options.reindexer))
      const location = urlOf((yield* HttpServer.HttpServer).address)
      yield* Effect.logInfo(`Admin server listening on ${location.url}`)
      return AdminServer.of(location)
    })
  ).pipe(
    Layer.provide(
      NodeHttpServer.layerServer(createServer, { host: options.host ?? "127.0.0.1", port: options.port })
    )
  )
