/**
 * The FDv1 fallback tier: polls `GET /sdk/latest-all` (`{flags:{key:{…,version}}, segments:{…}}`)
 * at once and then every `interval` after the previous poll ended. Each answer is a `Full` change
 * set with the empty selector (FDv1 has none). The fallback directive is ignored here — this source
 * is what the directive engages. A terminal status (e.g. 401) ends the run; other failures are
 * reported as `Interrupted` and polling goes on.
 */
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Either, Option, Schema, Stream } from "effect"
import * as ChangeSet from "../ChangeSet.js"
import * as Selector from "../Selector.js"
import * as Source from "../Source.js"
import * as Endpoints from "./Endpoints.js"
import * as Poll from "./Poll.js"
import * as SourceErrors from "./SourceErrors.js"

/** Options: the endpoints, the interval (default 300 s) and the request deadline (default 10 s). */
export interface Options extends Endpoints.Options {
  readonly interval?: Duration.DurationInput | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
}

const Objects = Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), {
  default: () => ({})
})
const LatestAll = Schema.Struct({ flags: Objects, segments: Objects })

const versionOf = (object: unknown): number => {
  if (typeof object !== "object" || object === null || !("version" in object)) return 0
  return typeof object.version === "number" && Number.isFinite(object.version) ? object.version : 0
}

const invalid = (message: string) =>
  new Source.SourceError({ category: "invalid-data", status: Option.none(), message })

/** Decodes a `latest-all` body into a `Full` change set with the empty selector. */
export const decodeLatestAll = (
  body: string,
  options: { readonly maxPayloadBytes: number; readonly kinds: ReadonlySet<string> }
): Either.Either<ChangeSet.ChangeSet, Source.SourceError> => {
  const size = Buffer.byteLength(body, "utf8")
  if (size > options.maxPayloadBytes) {
    return Either.left(
      new Source.SourceError({
        category: "payload-too-large",
        status: Option.none(),
        message: `FDv1 polling body of ${size} bytes exceeds the ${options.maxPayloadBytes}-byte limit`
      })
    )
  }
  return Either.try({
    try: (): unknown => JSON.parse(body),
    catch: () => invalid("FDv1 polling body is not valid JSON")
  }).pipe(
    Either.flatMap((json) =>
      Either.mapLeft(Schema.decodeUnknownEither(LatestAll)(json), () =>
        invalid("FDv1 polling body is not {flags: {…}, segments: {…}}")
      )
    ),
    Either.map((latest) => {
      const updates: Array<ChangeSet.Update> = []
      for (const [kind, objects] of [
        ["flag", latest.flags],
        ["segment", latest.segments]
      ] as const) {
        if (!options.kinds.has(kind)) continue
        for (const [key, object] of Object.entries(objects)) {
          updates.push(ChangeSet.Update.Put({ kind, key, version: versionOf(object), object }))
        }
      }
      return ChangeSet.ChangeSet.Full({ selector: Selector.empty, updates })
    })
  )
}

const liveClock = Clock.make()

/** Polls `latest-all` once. Never fails. */
export const pollOnce = (
  client: HttpClient.HttpClient,
  endpoints: Endpoints.Endpoints,
  requestTimeout: Duration.DurationInput = Poll.defaultRequestTimeout
): Effect.Effect<Source.Result> =>
  Effect.gen(function* () {
    const request = HttpClientRequest.get(endpoints.fdv1Url).pipe(
      HttpClientRequest.setHeaders(endpoints.headers),
      HttpClientRequest.acceptJson
    )
    const response = yield* client.execute(request)
    if (response.status !== 200) return SourceErrors.fromStatus("FDv1 polling", response.status)
    const body = yield* response.text
    return Either.match(decodeLatestAll(body, endpoints.handler), {
      onLeft: (error) => Source.Result.Interrupted({ error }),
      onRight: (changeSet) => Source.Result.ChangeSet({ changeSet })
    })
  }).pipe(
    Effect.timeoutFail({ duration: requestTimeout, onTimeout: () => "timeout" as const }),
    // The request is real I/O: its deadline runs on real time even under a test clock.
    Effect.withClock(liveClock),
    Effect.catchAll((error) =>
      Effect.succeed(
        Source.Result.Interrupted({
          error:
            error === "timeout" ? SourceErrors.timeout("FDv1 polling") : SourceErrors.network("FDv1 polling")
        })
      )
    )
  )

/** An FDv1 polling synchronizer over the `HttpClient` in context. */
export const make = (options: Options): Effect.Effect<Source.Synchronizer, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const endpoints = Endpoints.resolve(options)
    const interval = Duration.decode(options.interval ?? Duration.seconds(300))
    const poll = pollOnce(client, endpoints, options.requestTimeout ?? Poll.defaultRequestTimeout)
    return {
      name: "fdv1-polling",
      protocol: "fdv1",
      run: () =>
        Stream.fromEffect(poll).pipe(
          Stream.concat(Stream.repeatEffect(Effect.zipRight(Effect.sleep(interval), poll))),
          Stream.takeUntil(Source.Result.$is("Terminal"))
        )
    }
  })
