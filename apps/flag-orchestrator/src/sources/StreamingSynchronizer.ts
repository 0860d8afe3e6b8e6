/**
 * The FDv2 streaming synchronizer: `GET <streamUrl>?basis=<state>` as server-sent events, parsed by
 * `@effect/experimental`'s SSE parser and run through a fresh `ProtocolHandler` per connection.
 *
 * ```text
 * connect(basis) ─200─▶ events ─▶ handler ─ChangeSet─▶ result
 *    │  ▲               │ goodbye ─────────▶ Recycle("goodbye")   (Fdv1Fallback when it carries protocolFallbackTTL)
 *    │  │               │ end of stream ───▶ Recycle("end-of-stream")
 *    │  │               │ invalid data ────▶ Interrupted(categorized), Recycle("invalid-data")
 *    │  │               │ legacy ping ─────▶ one coalesced poll (at most one in flight, one queued)
 *    │  │               │ socket error ────▶ Interrupted(network-error), reconnect
 *    │  │               └ silent 5 min ────▶ Interrupted(timeout), reconnect
 *    │  └── backoff (1 s → 30 s, 50 % jitter, reset after 60 s connected)
 *    ├─5xx / 400 / 408 / 429 / network─▶ Interrupted, reconnect
 *    └─401 / 403 / 404 / other 4xx────▶ Terminal
 * ```
 *
 * Connections are strictly sequential: the previous one's request is aborted (its scope closed)
 * before the next starts, and each reads the basis afresh. A fallback header on the response
 * yields `Fdv1Fallback` right after the first payload on that connection (or when the stream
 * ends without one). Results are handed over through a bounded queue, so a slow consumer slows
 * the reading instead of growing memory; everything a run starts lives in the stream's scope.
 */
import { Backoff } from "@converge/core"
import { Sse } from "@effect/experimental"
import { HttpClient, HttpClientRequest } from "@effect/platform"
import { Clock, Duration, Effect, Either, Option, Queue, Stream, Take } from "effect"
import * as FallbackDirective from "../FallbackDirective.js"
import * as Protocol from "../Protocol.js"
import * as ProtocolHandler from "../ProtocolHandler.js"
import * as Selector from "../Selector.js"
import * as Source from "../Source.js"
import * as Endpoints from "./Endpoints.js"
import * as Poll from "./Poll.js"
import * as SourceErrors from "./SourceErrors.js"

/** Options: the endpoints and the reconnect backoff (default: core `Backoff` with `RetryPolicy.connection`, reset after 60 s). */
export interface Options extends Endpoints.Options {
  readonly backoff?: Backoff.Options | undefined
  /**
   * How long a connection may stay silent (no bytes, not even a heart-beat) before it counts as
   * broken and is reconnected (`Interrupted`, category `timeout`). Real time. Default 5 minutes.
   */
  readonly readTimeout?: Duration.DurationInput | undefined
  /** Deadline of the poll a legacy `ping` triggers. Default 10 s. */
  readonly pollRequestTimeout?: Duration.DurationInput | undefined
}

/** How long a connection may stay silent before it is reconnected: 5 minutes. */
export const defaultReadTimeout: Duration.Duration = Duration.minutes(5)

const liveClock = Clock.make()

/** The name of the legacy event that asks the client to poll. */
export const pingEvent = "ping"

/** How one connection ended: reconnect after an error, or finish the run with these results. */
type Outcome =
  | { readonly _tag: "Reconnect"; readonly error: Source.SourceError }
  | { readonly _tag: "Finish"; readonly results: ReadonlyArray<Source.Result> }

const reconnect = (error: Source.SourceError): Outcome => ({ _tag: "Reconnect", error })
const finish = (...results: ReadonlyArray<Source.Result>): Outcome => ({ _tag: "Finish", results })
const recycle = (reason: Source.RecycleReason) => finish(Source.Result.Recycle({ reason }))
const fallback = (directive: FallbackDirective.FallbackDirective) =>
  finish(Source.Result.Fdv1Fallback({ directive }))
const invalidData = (error: Source.SourceError) =>
  finish(Source.Result.Interrupted({ error }), Source.Result.Recycle({ reason: "invalid-data" }))

/**
 * Feeds `text` to the SSE parser one line at a time. The parser rescans its pending buffer from the
 * start for every line, so one large chunk (a burst of events) costs time quadratic in its size;
 * line by line keeps it linear. Stops at the first error (an event over the size limit).
 */
const feedByLine = (parser: Sse.Parser, text: string): Sse.SseError | undefined => {
  let start = 0
  while (start < text.length) {
    const newline = text.indexOf("\n", start)
    const end = newline === -1 ? text.length : newline + 1
    const error = parser.feed(text.slice(start, end))
    if (error !== undefined) return error
    start = end
  }
  return undefined
}

/** A streaming synchronizer over the `HttpClient` in context. */
export const make = (options: Options): Effect.Effect<Source.Synchronizer, never, HttpClient.HttpClient> =>
  Effect.map(HttpClient.HttpClient, (client) => {
    const endpoints = Endpoints.resolve(options)
    const scopedClient = HttpClient.withScope(client)
    const maxEventSize = endpoints.handler.maxPayloadBytes
    const readTimeout = options.readTimeout ?? defaultReadTimeout

    const run = (basis: Effect.Effect<Selector.Selector>): Stream.Stream<Source.Result> =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const results = yield* Queue.bounded<Take.Take<Source.Result>>(16)
          const emit = (result: Source.Result) => Queue.offer(results, Take.of(result))
          const backoff = yield* Backoff.make(options.backoff)

          // Legacy pings: a dropping queue of one coalesces every ping that arrives while a poll is
          // waiting or running into a single follow-up poll.
          const pings = yield* Queue.dropping<void>(1)
          const pollForPing = Effect.flatMap(basis, (selector) =>
            Poll.pollOnce(
              client,
              endpoints,
              selector,
              options.pollRequestTimeout ?? Poll.defaultRequestTimeout
            )
          ).pipe(
            Effect.flatMap((polled) =>
              Effect.forEach(
                polled,
                (result) =>
                  result._tag === "ChangeSet"
                    ? emit(result)
                    : result._tag === "Interrupted" || result._tag === "Terminal"
                      ? Effect.logWarning(`poll after a ping failed: ${result.error.message}`)
                      : Effect.void,
                { discard: true }
              )
            )
          )
          yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Queue.take(pings), pollForPing)))

          const connect = (selector: Selector.Selector): Effect.Effect<Outcome> =>
            Effect.gen(function* () {
              const request = HttpClientRequest.get(Selector.withBasis(endpoints.streamUrl, selector)).pipe(
                HttpClientRequest.setHeaders(endpoints.headers),
                HttpClientRequest.setHeader("accept", "text/event-stream")
              )
              const answered = yield* Effect.either(scopedClient.execute(request))
              if (Either.isLeft(answered)) return reconnect(SourceErrors.network("streaming"))
              const response = answered.right
              if (response.status !== 200) {
                return SourceErrors.isRecoverableStatus(response.status)
                  ? reconnect(SourceErrors.httpStatus("streaming", response.status))
                  : finish(SourceErrors.fromStatus("streaming", response.status))
              }
              yield* backoff.succeeded
              const headerDirective = FallbackDirective.fromHeaders(response.headers)
              // Fresh per connection: a half transfer or a half event never leaks into the next one.
              const handler = ProtocolHandler.make(endpoints.handler)
              const parsed: Array<Sse.Event> = []
              const parser = Sse.makeParser(
                (event) => {
                  if (event._tag === "Event") parsed.push(event)
                },
                { maxEventSize }
              )

              const onEvent = (raw: Sse.Event): Effect.Effect<Option.Option<Outcome>> => {
                if (raw.event === pingEvent) return Effect.as(Queue.offer(pings, undefined), Option.none())
                const decoded = Protocol.decodeRawEvent(raw, endpoints.handler)
                if (Either.isLeft(decoded)) {
                  return Effect.succeed(
                    Option.some(invalidData(SourceErrors.fromDecode("streaming", decoded.left)))
                  )
                }
                const action = handler.process(decoded.right)
                switch (action._tag) {
                  case "ChangeSet":
                    return Effect.as(
                      emit(Source.Result.ChangeSet({ changeSet: action.changeSet })),
                      Option.map(headerDirective, fallback)
                    )
                  case "Goodbye":
                    return Effect.succeed(
                      Option.some(
                        Option.match(
                          Option.orElse(action.directive, () => headerDirective),
                          {
                            onNone: () => recycle("goodbye"),
                            onSome: fallback
                          }
                        )
                      )
                    )
                  case "ServerError":
                    return Effect.as(
                      Effect.logWarning(
                        "the streaming endpoint reported an error; the pending payload was discarded"
                      ),
                      Option.none()
                    )
                  case "Pending":
                  case "Ignored":
                    return Effect.succeed(Option.none())
                }
              }

              const onChunk = (text: string): Effect.Effect<Option.Option<Outcome>> =>
                Effect.suspend(() => {
                  const tooLarge = feedByLine(parser, text)
                  const events = parsed.splice(0, parsed.length)
                  return Effect.reduce(events, Option.none<Outcome>(), (outcome, event) =>
                    Option.isSome(outcome) ? Effect.succeed(outcome) : onEvent(event)
                  ).pipe(
                    Effect.map((outcome) =>
                      Option.isNone(outcome) && tooLarge !== undefined
                        ? Option.some(invalidData(SourceErrors.eventTooLarge(maxEventSize)))
                        : outcome
                    )
                  )
                })

              const read = yield* response.stream.pipe(
                Stream.timeoutFail(() => "silent" as const, readTimeout),
                Stream.decodeText(),
                Stream.runFoldWhileEffect(Option.none<Outcome>(), Option.isNone, (_, text) => onChunk(text)),
                // The silence deadline is about real I/O: real time even under a test clock.
                Effect.withClock(liveClock),
                Effect.either
              )
              if (Either.isLeft(read)) {
                return reconnect(
                  read.left === "silent"
                    ? SourceErrors.silent("streaming")
                    : SourceErrors.network("streaming")
                )
              }
              return Option.getOrElse(read.right, () =>
                Option.match(headerDirective, { onNone: () => recycle("end-of-stream"), onSome: fallback })
              )
            }).pipe(Effect.scoped)

          const connectLoop: Effect.Effect<void> = Effect.gen(function* () {
            while (true) {
              const outcome = yield* Effect.flatMap(basis, connect)
              if (outcome._tag === "Finish") {
                yield* Effect.forEach(outcome.results, emit, { discard: true })
                yield* Queue.offer(results, Take.end)
                return
              }
              yield* emit(Source.Result.Interrupted({ error: outcome.error }))
              yield* Effect.sleep(yield* backoff.next)
            }
          })
          yield* Effect.forkScoped(connectLoop)
          return Stream.fromQueue(results).pipe(Stream.flattenTake)
        })
      )

    return { name: "streaming", protocol: "fdv2", run }
  })
