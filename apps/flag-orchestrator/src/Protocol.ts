/**
 * The FDv2 wire events and their decoding.
 *
 * A streaming connection delivers SSE `{ event, data }` pairs whose `data` is JSON text; a poll returns
 * one JSON body `{ events: [{ event, data }, …] }`. Both decode into the same `Event` values. Bad input
 * never throws: it becomes one of three categorized errors (`InvalidJsonError`, `MalformedEventError`,
 * `PayloadTooLargeError`) whose messages name what was wrong without echoing the payload.
 * Event names this module does not know decode to `Unknown`, so a newer server does not break a client.
 */
import { Data, Either, Option, ParseResult, Schema } from "effect"

/** How the server intends to bring the client current: everything, changes only, or nothing to send. */
export const IntentCode = Schema.Literal("xfer-full", "xfer-changes", "none")

/** The intent code of a `server-intent` event. */
export type IntentCode = typeof IntentCode.Type

/** A decoded FDv2 event; `Unknown` stands for an event name this client does not know. */
export type Event = Data.TaggedEnum<{
  ServerIntent: { readonly intentCode: IntentCode; readonly payloadId: string; readonly reason: string }
  PutObject: {
    readonly kind: string
    readonly key: string
    readonly version: number
    readonly object: unknown
  }
  DeleteObject: { readonly kind: string; readonly key: string; readonly version: number }
  PayloadTransferred: { readonly state: string; readonly version: number }
  Goodbye: {
    readonly reason: string
    readonly silent: boolean
    readonly protocolFallbackTtlSeconds: Option.Option<number>
  }
  ServerError: { readonly payloadId: string; readonly reason: string }
  HeartBeat: Record<never, never>
  Unknown: { readonly name: string }
}>

/** Constructors, guards and a matcher for `Event`. */
export const Event = Data.taggedEnum<Event>()

/** The raw pair an SSE parser yields: the event name and its JSON `data` text. */
export interface RawEvent {
  readonly event: string
  readonly data: string
}

/** Decoding limits. `maxPayloadBytes` bounds one SSE event's data or one polling body (UTF-8 bytes). */
export interface DecodeOptions {
  readonly maxPayloadBytes: number
}

/** Default limits: 10 MiB per event or polling body. */
export const defaultDecodeOptions: DecodeOptions = { maxPayloadBytes: 10 * 1024 * 1024 }

/** The category of a decoding failure, for statuses and metrics. */
export type DecodeErrorCategory = "invalid-json" | "malformed-event" | "payload-too-large"

/** The text was not JSON. `event` names the SSE event, or `"poll"` for a polling body. */
export class InvalidJsonError extends Data.TaggedError("InvalidJsonError")<{
  readonly event: string
  readonly message: string
}> {
  /** The failure category. */
  readonly category: DecodeErrorCategory = "invalid-json"
}

/** The JSON did not have the event's shape; `message` names the event and the offending path. */
export class MalformedEventError extends Data.TaggedError("MalformedEventError")<{
  readonly event: string
  readonly message: string
}> {
  /** The failure category. */
  readonly category: DecodeErrorCategory = "malformed-event"
}

/** The data exceeded `maxPayloadBytes`; it was rejected before parsing. */
export class PayloadTooLargeError extends Data.TaggedError("PayloadTooLargeError")<{
  readonly event: string
  readonly sizeBytes: number
  readonly limitBytes: number
  readonly message: string
}> {
  /** The failure category. */
  readonly category: DecodeErrorCategory = "payload-too-large"
}

/** Any failure to decode FDv2 input. */
export type DecodeError = InvalidJsonError | MalformedEventError | PayloadTooLargeError

const PayloadIntentData = Schema.Struct({
  id: Schema.optionalWith(Schema.String, { default: () => "" }),
  intentCode: IntentCode,
  reason: Schema.optionalWith(Schema.String, { default: () => "" })
})

const ServerIntentData = Schema.Struct({ payloads: Schema.NonEmptyArray(PayloadIntentData) })

const Version = Schema.Number.pipe(Schema.finite())

const PutObjectData = Schema.Struct({
  kind: Schema.String,
  key: Schema.String,
  version: Version,
  object: Schema.Unknown
})

const DeleteObjectData = Schema.Struct({ kind: Schema.String, key: Schema.String, version: Version })

const PayloadTransferredData = Schema.Struct({ state: Schema.String, version: Version })

const GoodbyeData = Schema.Struct({
  reason: Schema.optionalWith(Schema.String, { default: () => "" }),
  silent: Schema.optionalWith(Schema.Boolean, { default: () => false }),
  protocolFallbackTTL: Schema.optional(Schema.Number.pipe(Schema.finite()))
})

const ErrorData = Schema.Struct({
  payload_id: Schema.optionalWith(Schema.String, { default: () => "" }),
  reason: Schema.optionalWith(Schema.String, { default: () => "" })
})

const PollingBody = Schema.Struct({
  events: Schema.Array(Schema.Struct({ event: Schema.String, data: Schema.optional(Schema.Unknown) }))
})

const describeIssue = (error: ParseResult.ParseError): string => {
  const [first] = ParseResult.ArrayFormatter.formatErrorSync(error)
  if (first === undefined) return "unexpected shape"
  const path = first.path.length === 0 ? "data" : `data.${first.path.join(".")}`
  const expectation = first.message.replace(/, actual [\s\S]*$/, "")
  const issue = expectation.length > 120 ? `${expectation.slice(0, 120)}…` : expectation
  return `${path}: ${issue}`
}

const decodeWith =
  <A, I>(event: string, schema: Schema.Schema<A, I>) =>
  (data: unknown): Either.Either<A, MalformedEventError> =>
    Either.mapLeft(
      Schema.decodeUnknownEither(schema)(data),
      (error) =>
        new MalformedEventError({ event, message: `malformed ${event} event: ${describeIssue(error)}` })
    )

/** Decodes the parsed JSON `data` of an event named `name`; unknown names give `Unknown`. */
export const decodeEventData = (name: string, data: unknown): Either.Either<Event, MalformedEventError> => {
  switch (name) {
    case "server-intent":
      return Either.map(decodeWith(name, ServerIntentData)(data), ({ payloads }) =>
        Event.ServerIntent({
          intentCode: payloads[0].intentCode,
          payloadId: payloads[0].id,
          reason: payloads[0].reason
        })
      )
    case "put-object":
      return Either.map(decodeWith(name, PutObjectData)(data), (put) => Event.PutObject(put))
    case "delete-object":
      return Either.map(decodeWith(name, DeleteObjectData)(data), (deletion) => Event.DeleteObject(deletion))
    case "payload-transferred":
      return Either.map(decodeWith(name, PayloadTransferredData)(data), (transferred) =>
        Event.PayloadTransferred(transferred)
      )
    case "goodbye":
      return Either.map(decodeWith(name, GoodbyeData)(data), (goodbye) =>
        Event.Goodbye({
          reason: goodbye.reason,
          silent: goodbye.silent,
          protocolFallbackTtlSeconds: Option.fromNullable(goodbye.protocolFallbackTTL)
        })
      )
    case "error":
      return Either.map(decodeWith(name, ErrorData)(data), (error) =>
        Event.ServerError({ payloadId: error.payload_id, reason: error.reason })
      )
    case "heart-beat":
      return Either.right(Event.HeartBeat())
    default:
      return Either.right(Event.Unknown({ name }))
  }
}

const checkSize = (
  event: string,
  text: string,
  options: DecodeOptions
): Either.Either<string, PayloadTooLargeError> => {
  const sizeBytes = Buffer.byteLength(text, "utf8")
  return sizeBytes > options.maxPayloadBytes
    ? Either.left(
        new PayloadTooLargeError({
          event,
          sizeBytes,
          limitBytes: options.maxPayloadBytes,
          message: `${event} payload of ${sizeBytes} bytes exceeds the ${options.maxPayloadBytes}-byte limit`
        })
      )
    : Either.right(text)
}

const parseJson = (event: string, text: string): Either.Either<unknown, InvalidJsonError> =>
  Either.try({
    try: (): unknown => JSON.parse(text),
    catch: () => new InvalidJsonError({ event, message: `${event} data is not valid JSON` })
  })

const needsNoData = (name: string): boolean => name === "heart-beat"

/** Decodes one SSE event: size check, then JSON, then the event's shape. Never throws. */
export const decodeRawEvent = (
  raw: RawEvent,
  options: DecodeOptions = defaultDecodeOptions
): Either.Either<Event, DecodeError> =>
  Either.flatMap(checkSize(raw.event, raw.data, options), (text) =>
    needsNoData(raw.event) && text.trim() === ""
      ? Either.right(Event.HeartBeat())
      : Either.flatMap(parseJson(raw.event, text), (data) => decodeEventData(raw.event, data))
  )

/** Decodes a polling body `{ events: […] }`; any bad event rejects the whole body, so none of it applies. */
export const decodePollingBody = (
  body: string,
  options: DecodeOptions = defaultDecodeOptions
): Either.Either<ReadonlyArray<Event>, DecodeError> =>
  Either.gen(function* () {
    const text = yield* checkSize("poll", body, options)
    const json = yield* parseJson("poll", text)
    const { events } = yield* decodeWith("poll", PollingBody)(json)
    const decoded: Array<Event> = []
    for (const { event, data } of events) {
      decoded.push(yield* decodeEventData(event, data))
    }
    return decoded
  })
