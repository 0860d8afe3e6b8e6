/**
 * One FDv2 poll: `GET <pollUrl>?basis=<state>` answered by `{events:[…]}` (run through a fresh
 * handler), or `304` (the `None` change set). The results come in the order the orchestrator must
 * act on them: the payload's change sets first, then the FDv1 directive when the response carried
 * the fallback header. A failure yields exactly one `Interrupted` or `Terminal` result.
 */
import { type HttpClient, HttpClientRequest } from "@effect/platform"
import { Array as Arr, Clock, Duration, Effect, Either, Option } from "effect"
import * as ChangeSet from "../ChangeSet.js"
import * as FallbackDirective from "../FallbackDirective.js"
import * as ProtocolHandler from "../ProtocolHandler.js"
import * as Selector from "../Selector.js"
import * as Source from "../Source.js"
import type * as Endpoints from "./Endpoints.js"
import * as SourceErrors from "./SourceErrors.js"

/** How long a poll may take before it counts as failed. */
export const defaultRequestTimeout: Duration.Duration = Duration.seconds(10)

const liveClock = Clock.make()

/** Polls once with `basis` and returns the results in order. Never fails. */
export const pollOnce = (
  client: HttpClient.HttpClient,
  endpoints: Endpoints.Endpoints,
  basis: Selector.Selector,
  requestTimeout: Duration.DurationInput = defaultRequestTimeout
): Effect.Effect<Arr.NonEmptyReadonlyArray<Source.Result>> =>
  Effect.gen(function* () {
    const request = HttpClientRequest.get(Selector.withBasis(endpoints.pollUrl, basis)).pipe(
      HttpClientRequest.setHeaders(endpoints.headers),
      HttpClientRequest.acceptJson
    )
    const response = yield* client.execute(request)
    const directive = FallbackDirective.fromHeaders(response.headers)
    const withDirective = (
      results: Arr.NonEmptyReadonlyArray<Source.Result>
    ): Arr.NonEmptyReadonlyArray<Source.Result> =>
      Option.match(directive, {
        onNone: () => results,
        onSome: (directive) => Arr.append(results, Source.Result.Fdv1Fallback({ directive }))
      })
    if (response.status === 304) {
      return withDirective([Source.Result.ChangeSet({ changeSet: ChangeSet.none })])
    }
    if (response.status !== 200) return Arr.of(SourceErrors.fromStatus("polling", response.status))
    const body = yield* response.text
    return Either.match(ProtocolHandler.processPollingBody(body, endpoints.handler), {
      onLeft: (error) =>
        Arr.of(Source.Result.Interrupted({ error: SourceErrors.fromDecode("polling", error) })),
      onRight: (actions) => {
        const changeSets = actions.flatMap((action) =>
          action._tag === "ChangeSet" ? [Source.Result.ChangeSet({ changeSet: action.changeSet })] : []
        )
        return Arr.isNonEmptyReadonlyArray(changeSets)
          ? withDirective(changeSets)
          : Arr.of(Source.Result.Interrupted({ error: SourceErrors.noPayload("polling") }))
      }
    })
  }).pipe(
    Effect.timeoutFail({ duration: requestTimeout, onTimeout: () => "timeout" as const }),
    // The request is real I/O: its deadline runs on real time even under a test clock.
    Effect.withClock(liveClock),
    Effect.catchAll((error) =>
      Effect.succeed(
        Arr.of(
          Source.Result.Interrupted({
            error: error === "timeout" ? SourceErrors.timeout("polling") : SourceErrors.network("polling")
          })
        )
      )
    )
  )
