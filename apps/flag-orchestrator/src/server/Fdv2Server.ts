/**
 * `serve-fdv2`: a local FDv2 server for development and tests, with an admin API to change flags and
 * inject faults.
 *
 * | route | answer |
 * |---|---|
 * | `GET /sdk/stream?basis=S` | SSE: intent `none` when `S` is the current state, else a full transfer; then every change as it happens, and a `heart-beat` every `heartbeatInterval` |
 * | `GET /sdk/poll?basis=S` | `304` when `S` is current, else `{events:[…]}` with a full transfer |
 * | `GET /sdk/latest-all` | FDv1: `{flags:{key:{…object,key,version}}, segments:{…}}` |
 * | `GET /sdk/stream/eval/:context` · `GET /sdk/poll/eval/:context` | the client-side evaluation variant (flags as `flag-eval` objects, the context ignored), for LaunchDarkly's client SDK |
 * | `GET /admin/flags` | the current flags, state and version |
 * | `PUT /admin/flags/:key` (JSON body) · `DELETE /admin/flags/:key` | change a flag: a new version, streamed to every client |
 * | `POST /admin/faults/goodbye` `{reason?, silent?, protocolFallbackTTL?}` | every stream gets a goodbye (the TTL makes it an FDv1 directive) |
 * | `POST /admin/faults/error` `{reason?}` | every stream gets an `error` event |
 * | `POST /admin/faults/status` `{status, count?}` | the next `count` (default 1) `/sdk/*` requests answer `status` |
 * | `POST /admin/faults/fallback-header` `{ttlSeconds?, count?}` | the next `count` responses carry `x-ld-fd-fallback: true` (and the TTL header) |
 * | `POST /admin/faults/invalid-data` `{count?}` | every stream gets a `put-object` that is not JSON; the next `count` polls get a body that is not JSON |
 * | `POST /admin/faults/event` `{event, data, count?}` | every stream gets this raw event `count` times at once (e.g. legacy `ping`s, an oversized payload) |
 * | `POST /admin/faults/drop` · `POST /admin/faults/end` | every stream's socket is destroyed · every stream ends cleanly |
 * | `POST /admin/faults/latency` `{millis}` | every `/sdk/*` response waits `millis` first (0 turns it off) |
 * | `DELETE /admin/faults` | clears the response faults |
 * | `GET /admin/stats` | connections and polls open now, most at once, in all; recent `basis` values |
 */
import { createServer } from "node:http"
import { Sse } from "@effect/experimental"
import {
  HttpMiddleware,
  HttpRouter,
  HttpServer,
  HttpServerRequest,
  HttpServerResponse
} from "@effect/platform"
import type { ServeError } from "@effect/platform/HttpServerError"
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Clock, Context, Duration, Effect, HashMap, Layer, Option, Schema, Stream } from "effect"
import * as FallbackDirective from "../FallbackDirective.js"
import type * as Protocol from "../Protocol.js"
import * as Selector from "../Selector.js"
import * as Faults from "./Faults.js"
import * as FlagData from "./FlagData.js"
import type * as FlagsFile from "./FlagsFile.js"
import * as ServerStats from "./ServerStats.js"

/** A running server: where it listens and its live data, faults and stats. */
export class Fdv2Server extends Context.Tag("@converge/flag-orchestrator/Fdv2Server")<
  Fdv2Server,
  {
    /** The base URL, e.g. `http://127.0.0.1:8030` (no trailing slash). */
    readonly url: string
    readonly port: number
    readonly data: FlagData.FlagData
    readonly faults: Faults.Faults
    readonly stats: ServerStats.ServerStats
  }
>() {}

/** How to run the server. */
export interface Options {
  /** Interface to bind. Default `127.0.0.1`. */
  readonly host?: string | undefined
  /** Port to bind; 0 (the default) picks a free one. */
  readonly port?: number | undefined
  /** The objects to start with. Default: none. */
  readonly initial?: FlagsFile.InitialData | undefined
  /** How often an idle stream gets a `heart-beat` event, so clients' read timeouts stay quiet. Default 60 s. */
  readonly heartbeatInterval?: Duration.DurationInput | undefined
  /** Called right before a change's `payload-transferred` is written to a stream (for latency benchmarks). */
  readonly onTransferred?: ((version: number) => void) | undefined
}

const encodeEvent = (event: Protocol.RawEvent): string =>
  event.data === ""
    ? // The encoder leaves out an empty data line, and SSE parsers drop an event without one (e.g. a legacy `ping`).
      `event: ${event.event}\ndata:\n\n`
    : Sse.encoder.write({ _tag: "Event", event: event.event, id: undefined, data: event.data })

const basisOf = (request: HttpServerRequest.HttpServerRequest): string | null =>
  new URL(request.url, "http://localhost").searchParams.get(Selector.basisParameter)

const fallbackHeaders = (faults: Faults.ResponseFaults): Record<string, string> =>
  Option.match(faults.fallbackHeader, {
    onNone: () => ({}),
    onSome: (ttl) => ({
      [FallbackDirective.fallbackHeader]: "true",
      ...Option.match(ttl, {
        onNone: () => ({}),
        onSome: (seconds): Record<string, string> => ({
          [FallbackDirective.fallbackTtlHeader]: String(seconds)
        })
      })
    })
  })

const flagPrefix = '{"kind":"flag",'

/**
 * The client-side evaluation variant of an event: flags become `flag-eval` objects (their object
 * is served as the evaluation result). Events are encoded by `FlagData`, so the kind leads the JSON.
 */
const toEvalEvent = (event: Protocol.RawEvent): Protocol.RawEvent =>
  (event.event === "put-object" || event.event === "delete-object") && event.data.startsWith(flagPrefix)
    ? { event: event.event, data: `{"kind":"flag-eval",${event.data.slice(flagPrefix.length)}` }
    : event

const invalidPutObject: Protocol.RawEvent = { event: "put-object", data: '{"kind": "flag", "key": ' }

const GoodbyeBody = Schema.Struct({
  reason: Schema.optionalWith(Schema.String, { default: () => "admin" }),
  silent: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  protocolFallbackTTL: Schema.optional(Schema.Number)
})
const ErrorBody = Schema.Struct({ reason: Schema.optionalWith(Schema.String, { default: () => "admin" }) })
const Count = Schema.optionalWith(Schema.Int.pipe(Schema.positive()), { default: () => 1 })
const StatusBody = Schema.Struct({ status: Schema.Int.pipe(Schema.between(100, 599)), count: Count })
const FallbackBody = Schema.Struct({ ttlSeconds: Schema.optional(Schema.Number), count: Count })
const InvalidBody = Schema.Struct({ count: Count })
const RawEventBody = Schema.Struct({ event: Schema.String, data: Schema.String, count: Count })
const LatencyBody = Schema.Struct({ millis: Schema.Number.pipe(Schema.nonNegative()) })
const KeyParams = Schema.Struct({ key: Schema.String })

/** Decodes the JSON body (empty counts as `{}`) with `schema`, answering 400 with the reason when it does not fit. */
const withBody = <A, I, E, R>(
  schema: Schema.Schema<A, I>,
  handle: (body: A) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => request.text).pipe(
    Effect.mapError(() => "the body could not be read"),
    Effect.flatMap((text) =>
      Effect.try({
        try: (): unknown => (text.trim() === "" ? {} : JSON.parse(text)),
        catch: () => "the body is not JSON"
      })
    ),
    Effect.flatMap((json) => Effect.mapError(Schema.decodeUnknown(schema)(json), (error) => error.message)),
    Effect.matchEffect({
      onFailure: (reason) =>
        Effect.succeed(HttpServerResponse.text(`bad request body: ${reason}`, { status: 400 })),
      onSuccess: handle
    })
  )

const ok = HttpServerResponse.text("ok")

const liveClock = Clock.make()

const snapshotJson = (snapshot: FlagData.Snapshot) => ({
  state: snapshot.state,
  version: snapshot.version,
  flags: Object.fromEntries(
    Array.from(HashMap.values(snapshot.items))
      .filter((item) => item.kind === "flag")
      .map((item) => [item.key, item.object])
  )
})

const fdv1Object = (item: FlagData.Item): unknown =>
  typeof item.object === "object" && item.object !== null && !Array.isArray(item.object)
    ? { ...item.object, key: item.key, version: item.version }
    : { key: item.key, version: item.version, value: item.object }

/** The server's routes over `data`, `faults` and `stats`. */
export const router = (
  data: FlagData.FlagData,
  faults: Faults.Faults,
  stats: ServerStats.ServerStats,
  onTransferred: (version: number) => void = () => undefined,
  heartbeatInterval: Duration.DurationInput = Duration.seconds(60)
) => {
  const heartBeats = Stream.repeatEffect(
    Effect.as(
      // Real time even when a test drives the clients with a TestClock.
      Effect.withClock(Effect.sleep(heartbeatInterval), liveClock),
      { event: "heart-beat", data: "" } satisfies Protocol.RawEvent
    )
  )

  /**
   * Takes the response faults, sleeps the latency, and answers the injected status if there is one.
   * Polls count as in flight from arrival to answer (streams count while their body is open).
   */
  const withFaults = <E, R>(
    endpoint: "stream" | "poll" | "fdv1",
    respond: (
      faults: Faults.ResponseFaults,
      request: HttpServerRequest.HttpServerRequest
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      const finished =
        endpoint === "stream" ? Effect.void : yield* stats.begin({ endpoint, basis: basisOf(request) })
      return yield* Effect.gen(function* () {
        const taken = yield* faults.take(endpoint)
        if (taken.latencyMillis > 0) {
          // Real time even when a test drives the clients with a TestClock.
          yield* Effect.sleep(Duration.millis(taken.latencyMillis)).pipe(Effect.withClock(liveClock))
        }
        if (Option.isSome(taken.status)) {
          return HttpServerResponse.text(`injected HTTP ${taken.status.value}`, {
            status: taken.status.value
          })
        }
        return yield* respond(taken, request)
      }).pipe(Effect.ensuring(finished))
    })

  const stream = (asEval: boolean) =>
    withFaults("stream", (taken, request) =>
      Effect.sync(() => {
        const basis = basisOf(request)
        const body = Stream.unwrapScoped(
          Effect.gen(function* () {
            const finished = yield* stats.begin({ endpoint: "stream", basis })
            yield* Effect.addFinalizer(() => finished)
            const { snapshot, changes } = yield* data.subscribe
            const live = Stream.fromQueue(changes).pipe(
              Stream.filter(
                (broadcast) => broadcast._tag !== "Changes" || broadcast.version > snapshot.version
              ),
              Stream.takeWhile((broadcast) => broadcast._tag !== "End"),
              // A goodbye closes the stream, as a real FDv2 server does.
              Stream.takeUntil(
                (broadcast) =>
                  broadcast._tag === "Events" && broadcast.events.some((event) => event.event === "goodbye")
              ),
              Stream.mapConcatEffect((broadcast) => {
                switch (broadcast._tag) {
                  case "Changes":
                    return Effect.sync(() => {
                      onTransferred(broadcast.version)
                      return broadcast.events
                    })
                  case "Events":
                    return Effect.succeed(broadcast.events)
                  case "Drop":
                    return Effect.sync(() => {
                      NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
                      return []
                    })
                }
              })
            )
            return Stream.concat(
              Stream.fromIterable(FlagData.initialTransfer(snapshot, basis ?? "")),
              live
            ).pipe(Stream.merge(heartBeats, { haltStrategy: "left" }))
          })
        ).pipe(
          Stream.map((event) => encodeEvent(asEval ? toEvalEvent(event) : event)),
          Stream.encodeText
        )
        return HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache", ...fallbackHeaders(taken) }
        })
      })
    )

  const poll = (asEval: boolean) =>
    withFaults("poll", (taken, request) => pollResponse(taken, basisOf(request), asEval))

  const pollResponse = (taken: Faults.ResponseFaults, basis: string | null, asEval: boolean) =>
    Effect.gen(function* () {
      const headers = fallbackHeaders(taken)
      if (taken.invalidBody) {
        return HttpServerResponse.text('{"events": [', { contentType: "application/json", headers })
      }
      const snapshot = yield* data.snapshot
      if (basis === snapshot.state) return HttpServerResponse.empty({ status: 304, headers })
      const events = FlagData.fullTransfer(snapshot).map((raw) => {
        const event = asEval ? toEvalEvent(raw) : raw
        return { event: event.event, data: JSON.parse(event.data) as unknown }
      })
      return yield* HttpServerResponse.json({ events }, { headers })
    })

  const fdv1 = withFaults("fdv1", (taken) =>
    Effect.gen(function* () {
      const snapshot = yield* data.snapshot
      const items = Array.from(HashMap.values(snapshot.items))
      const ofKind = (kind: FlagData.Kind) =>
        Object.fromEntries(
          items.filter((item) => item.kind === kind).map((item) => [item.key, fdv1Object(item)])
        )
      return yield* HttpServerResponse.json(
        { flags: ofKind("flag"), segments: ofKind("segment") },
        { headers: fallbackHeaders(taken) }
      )
    })
  )

  return HttpRouter.empty
    .pipe(
      HttpRouter.get("/healthz", ok),
      HttpRouter.get("/sdk/stream", stream(false)),
      HttpRouter.get("/sdk/poll", poll(false)),
      HttpRouter.get("/sdk/stream/eval/:context", stream(true)),
      HttpRouter.get("/sdk/poll/eval/:context", poll(true)),
      HttpRouter.get("/sdk/latest-all", fdv1)
    )
    .pipe(
      HttpRouter.get(
        "/admin/flags",
        Effect.flatMap(data.snapshot, (s) => HttpServerResponse.json(snapshotJson(s)))
      ),
      HttpRouter.put(
        "/admin/flags/:key",
        Effect.flatMap(HttpRouter.schemaPathParams(KeyParams), ({ key }) =>
          withBody(Schema.Unknown, (object) =>
            Effect.flatMap(data.put("flag", key, object), (s) =>
              HttpServerResponse.json({ state: s.state, version: s.version })
            )
          )
        )
      ),
      HttpRouter.del(
        "/admin/flags/:key",
        Effect.flatMap(HttpRouter.schemaPathParams(KeyParams), ({ key }) =>
          Effect.flatMap(
            data.remove("flag", key),
            Option.match({
              onNone: () => Effect.succeed(HttpServerResponse.text(`no flag ${key}`, { status: 404 })),
              onSome: (s) => HttpServerResponse.json({ state: s.state, version: s.version })
            })
          )
        )
      ),
      HttpRouter.post(
        "/admin/faults/goodbye",
        withBody(GoodbyeBody, (body) =>
          data
            .broadcast(
              FlagData.Broadcast.Events({ events: [{ event: "goodbye", data: JSON.stringify(body) }] })
            )
            .pipe(Effect.as(ok))
        )
      ),
      HttpRouter.post(
        "/admin/faults/error",
        withBody(ErrorBody, (body) =>
          data
            .broadcast(
              FlagData.Broadcast.Events({
                events: [
                  { event: "error", data: JSON.stringify({ payload_id: "payload", reason: body.reason }) }
                ]
              })
            )
            .pipe(Effect.as(ok))
        )
      ),
      HttpRouter.post(
        "/admin/faults/status",
        withBody(StatusBody, (body) => faults.failWith(body.status, body.count).pipe(Effect.as(ok)))
      ),
      HttpRouter.post(
        "/admin/faults/fallback-header",
        withBody(FallbackBody, (body) =>
          faults.fallbackHeader(Option.fromNullable(body.ttlSeconds), body.count).pipe(Effect.as(ok))
        )
      ),
      HttpRouter.post(
        "/admin/faults/invalid-data",
        withBody(InvalidBody, (body) =>
          Effect.zipRight(
            faults.invalidPolls(body.count),
            data.broadcast(FlagData.Broadcast.Events({ events: [invalidPutObject] }))
          ).pipe(Effect.as(ok))
        )
      ),
      HttpRouter.post(
        "/admin/faults/event",
        withBody(RawEventBody, ({ count, ...event }) =>
          data
            .broadcast(FlagData.Broadcast.Events({ events: Array.from({ length: count }, () => event) }))
            .pipe(Effect.as(ok))
        )
      ),
      HttpRouter.post("/admin/faults/drop", data.broadcast(FlagData.Broadcast.Drop()).pipe(Effect.as(ok))),
      HttpRouter.post("/admin/faults/end", data.broadcast(FlagData.Broadcast.End()).pipe(Effect.as(ok))),
      HttpRouter.post(
        "/admin/faults/latency",
        withBody(LatencyBody, (body) => faults.latency(body.millis).pipe(Effect.as(ok)))
      ),
      HttpRouter.del("/admin/faults", faults.clear.pipe(Effect.as(ok))),
      HttpRouter.get(
        "/admin/stats",
        Effect.flatMap(stats.get, (s) => HttpServerResponse.json(s))
      ),
      Effect.catchTags({
        RouteNotFound: () => Effect.succeed(HttpServerResponse.text("not found", { status: 404 })),
        ParseError: (error) => Effect.succeed(HttpServerResponse.text(error.message, { status: 400 }))
      })
    )
}

const urlOf = (address: HttpServer.Address) =>
  address._tag === "TcpAddress"
    ? { port: address.port, url: `http://${address.hostname}:${address.port}` }
    : { port: 0, url: HttpServer.formatAddress(address) }

/** Serves `/sdk/*` and `/admin/*` for the layer's lifetime and logs the URL. */
export const layer = (options: Options = {}): Layer.Layer<Fdv2Server, ServeError> =>
  Layer.scoped(
    Fdv2Server,
    Effect.gen(function* () {
      const data = yield* FlagData.make(options.initial)
      const faults = yield* Faults.make
      const stats = yield* ServerStats.make
      yield* HttpServer.serveEffect(
        router(data, faults, stats, options.onTransferred, options.heartbeatInterval)
      )
      const location = urlOf((yield* HttpServer.HttpServer).address)
      yield* Effect.logInfo(`FDv2 server listening on ${location.url}`)
      return Fdv2Server.of({ ...location, data, faults, stats })
    })
  ).pipe(
    HttpMiddleware.withTracerDisabledWhen(() => true),
    Layer.provide(
      NodeHttpServer.layerServer(createServer, { host: options.host ?? "127.0.0.1", port: options.port ?? 0 })
    )
  )
