/** Test helpers: plain HTTP GETs against a running server, and a status server in a scope. */
import { FetchHttpClient, HttpClient } from "@effect/platform"
import { Context, Effect, Layer } from "effect"
import * as StatusServer from "../src/StatusServer.js"

/** What a GET returned. */
export interface Reply {
  readonly status: number
  readonly contentType: string | undefined
  readonly body: string
}

/** GETs `url` over real HTTP; any status is a successful reply. */
export const get = (url: string) =>
  HttpClient.get(url).pipe(
    Effect.flatMap((response) =>
      Effect.map(response.text, (body) => ({
        status: response.status,
        contentType: response.headers["content-type"],
        body
      }))
    ),
    Effect.provide(FetchHttpClient.layer)
  )

/** Starts a status server on a free port for the current scope and returns where it listens. */
export const startServer = <A = never, I = never>(options: StatusServer.Options<A, I> = {}) =>
  Effect.map(Layer.build(StatusServer.layer({ port: 0, ...options })), Context.get(StatusServer.StatusServer))
