/**
 * The FDv2 polling synchronizer: polls at once, then every `interval` after the previous poll ended
 * (so at most one poll is ever in flight), each with the basis held at that moment. A 304 yields the
 * `None` change set; failures are reported as `Interrupted` and polling goes on. The run ends after
 * a `Terminal` result (e.g. HTTP 401) or after the FDv1 directive, which follows the payload it came with.
 */
import { HttpClient } from "@effect/platform"
import { Duration, Effect, Stream } from "effect"
import * as Source from "../Source.js"
import * as Endpoints from "./Endpoints.js"
import * as Poll from "./Poll.js"

/** Options: the endpoints, the interval (default 30 s) and the request deadline (default 10 s). */
export interface Options extends Endpoints.Options {
  readonly interval?: Duration.DurationInput | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
}

/** True for the results after which a synchronizer run ends. */
export const endsRun = (result: Source.Result): boolean =>
  Source.Result.$is("Terminal")(result) ||
  Source.Result.$is("Fdv1Fallback")(result) ||
  Source.Result.$is("Recycle")(result)

/** A polling synchronizer over the `HttpClient` in context. */
export const make = (options: Options): Effect.Effect<Source.Synchronizer, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const endpoints = Endpoints.resolve(options)
    const interval = Duration.decode(options.interval ?? Duration.seconds(30))
    const requestTimeout = options.requestTimeout ?? Poll.defaultRequestTimeout
    return {
      name: "polling",
      protocol: "fdv2",
      run: (basis) => {
        const poll = Effect.flatMap(basis, (selector) =>
          Poll.pollOnce(client, endpoints, selector, requestTimeout)
        )
        return Stream.fromEffect(poll).pipe(
          Stream.concat(Stream.repeatEffect(Effect.zipRight(Effect.sleep(interval), poll))),
          Stream.flattenIterables,
          Stream.takeUntil(endsRun)
        )
      }
    }
  })
