/**
 * The relay's HTTP API for local consumers.
 *
 * | route | answer |
 * |---|---|
 * | `GET /flags` | `{ selector: {state, version}, flags: { <key>: <flag> } }` — every live flag |
 * | `GET /flags/:key` | `{ key, version, value }`, or `404` |
 * | `GET /flags/stream` | SSE: a `flags` event (the `GET /flags` body), then a `change-set` event per applied change set |
 * | `GET /mode` | `{ mode, offlineDetail, override, signals }` |
 * | `PUT /mode` | `{ "mode": "streaming" \| "polling" \| "offline" \| "background" \| null }` sets or clears the override (`202`) |
 * | `PUT /signals` | `{ "networkAvailable"?: boolean, "inForeground"?: boolean }` feeds the debouncer (`202`) |
 *
 * A body that does not fit answers `400` naming the field and what was expected.
 */
import { Sse } from "@effect/experimental"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Effect, Option, ParseResult, Schema, Stream } from "effect"
import type * as ChangeSet from "../ChangeSet.js"
import * as ConnectionMode from "../ConnectionMode.js"
import type * as DataSystem from "../DataSystem.js"
import type * as ModeSignals from "../ModeSignals.js"
import * as Store from "../Store.js"

/** The `GET /flags` body for `store`. */
export const flagsBody = (store: Store.Store) => ({
  selector: { state: store.selector.state, version: store.selector.version },
  flags: Object.fromEntries(Store.all(store, "flag"))
})

const updateBody = (update: ChangeSet.Update) =>
  update._tag === "Put"
    ? { op: "put", kind: update.kind, key: update.key, version: update.version, object: update.object }
    : { op: "delete", kind: update.kind, key: update.key, version: update.version }

/** The `change-set` SSE event's data for an applied change set: only the updates that took effect. */
export const changeSetBody = (applied: DataSystem.AppliedChangeSet) => ({
  type: applied.changeSet._tag === "Full" ? "full" : "partial",
  selector: { state: applied.selector.state, version: applied.selector.version },
  source: applied.origin.name,
  updates: applied.applied.map(updateBody)
})

const sseEvent = (event: string, data: unknown): string =>
  Sse.encoder.write({ _tag: "Event", event, id: undefined, data: JSON.stringify(data) })

const ModeBody = Schema.Struct({ mode: Schema.NullOr(ConnectionMode.Mode) })
const SignalsBody = Schema.Struct({
  networkAvailable: Schema.optionalWith(Schema.Boolean, { exact: true }),
  inForeground: Schema.optionalWith(Schema.Boolean, { exact: true })
})
const KeyParams = Schema.Struct({ key: Schema.String })

const badRequest = (message: string) => HttpServerResponse.unsafeJson({ error: message }, { status: 400 })

const withBody = <A, I>(
  schema: Schema.Schema<A, I>,
  handle: (body: A) => Effect.Effect<HttpServerResponse.HttpServerResponse>
) =>
  HttpServerRequest.schemaBodyJson(schema, { onExcessProperty: "error" }).pipe(
    Effect.matchEffect({
      onFailure: (error) =>
        Effect.succeed(
          badRequest(
            error._tag === "ParseError"
              ? ParseResult.ArrayFormatter.formatErrorSync(error)
                  .map((issue) => `${issue.path.map(String).join(".") || "body"}: ${issue.message}`)
                  .join("; ")
              : "the body is not JSON"
          )
        ),
      onSuccess: handle
    })
  )

/** The API's routes over a running data system and its mode signals. */
export const router = (dataSystem: DataSystem.DataSystem, signals: ModeSignals.ModeSignals) => {
  const flags = Effect.flatMap(dataSystem.store, (store) => HttpServerResponse.json(flagsBody(store)))

  const flag = Effect.gen(function* () {
    const { key } = yield* HttpRouter.schemaPathParams(KeyParams)
    const found = Store.get(yield* dataSystem.store, "flag", key)
    return yield* Option.match(found, {
      onNone: () =>
        HttpServerResponse.json({ error: `no flag named ${JSON.stringify(key)}` }, { status: 404 }),
      onSome: ({ version, object }) => HttpServerResponse.json({ key, version, value: object })
    })
  }).pipe(Effect.catchTag("ParseError", () => Effect.succeed(badRequest("the flag key is missing"))))

  const stream = Effect.sync(() => {
    const body = Stream.unwrapScoped(
      Effect.gen(function* () {
        const changes = yield* dataSystem.subscribe
        const snapshot = yield* dataSystem.store
        return Stream.concat(
          Stream.succeed(sseEvent("flags", flagsBody(snapshot))),
          Stream.fromQueue(changes).pipe(
            Stream.map((applied) => sseEvent("change-set", changeSetBody(applied)))
          )
        )
      })
    ).pipe(Stream.encodeText)
    return HttpServerResponse.stream(body, {
      contentType: "text/event-stream",
      headers: { "cache-control": "no-cache" }
    })
  })

  const mode = Effect.gen(function* () {
    const resolution = yield* dataSystem.mode
    const current = yield* signals.signals
    return yield* HttpServerResponse.json({
      mode: resolution.mode,
      offlineDetail: Option.getOrNull(resolution.offlineDetail),
      override: Option.getOrNull(yield* signals.override),
      signals: { networkAvailable: current.networkAvailable, inForeground: current.inForeground }
    })
  })

  const putMode = withBody(ModeBody, ({ mode }) =>
    signals
      .setMode(Option.fromNullable(mode))
      .pipe(Effect.as(HttpServerResponse.unsafeJson({ override: mode }, { status: 202 })))
  )

  const putSignals = withBody(SignalsBody, (body) =>
    Effect.gen(function* () {
      if (body.networkAvailable !== undefined) yield* signals.setNetworkAvailable(body.networkAvailable)
      if (body.inForeground !== undefined) yield* signals.setInForeground(body.inForeground)
      return HttpServerResponse.unsafeJson(body, { status: 202 })
    })
  )

  return HttpRouter.empty.pipe(
    HttpRouter.get("/flags", flags),
    HttpRouter.get("/flags/stream", stream),
    HttpRouter.get("/flags/:key", flag),
    HttpRouter.get("/mode", mode),
    HttpRouter.put("/mode", putMode),
    HttpRouter.put("/signals", putSignals),
    Effect.catchTag("RouteNotFound", () =>
      Effect.succeed(HttpServerResponse.unsafeJson({ error: "not found" }, { status: 404 }))
    )
  )
}
