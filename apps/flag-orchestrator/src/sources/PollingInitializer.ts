/**
 * The FDv2 polling initializer: one poll with the basis held now. Its answer is the first result of
 * that poll — the change set (`None` on 304), or the failure. A fallback header on the response does
 * not change the answer; the synchronizers meet the directive themselves.
 */
import { HttpClient } from "@effect/platform"
import { Array as Arr, type Duration, Effect } from "effect"
import type * as Source from "../Source.js"
import * as Endpoints from "./Endpoints.js"
import * as Poll from "./Poll.js"

/** Options: the endpoints and the request deadline (default 10 s). */
export interface Options extends Endpoints.Options {
  readonly requestTimeout?: Duration.DurationInput | undefined
}

/** A polling initializer over the `HttpClient` in context. */
export const make = (options: Options): Effect.Effect<Source.Initializer, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const endpoints = Endpoints.resolve(options)
    return {
      name: "polling",
      run: (basis) =>
        Effect.map(
          Poll.pollOnce(client, endpoints, basis, options.requestTimeout ?? Poll.defaultRequestTimeout),
          Arr.headNonEmpty
        )
    }
  })
