import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import * as Protocol from "../src/Protocol.js"

const raw = (event: string, data: unknown): Protocol.RawEvent => ({ event, data: JSON.stringify(data) })

const decoded = (result: Either.Either<Protocol.Event, Protocol.DecodeError>): Protocol.Event =>
  Either.getOrThrow(result)

const failure = <A>(result: Either.Either<A, Protocol.DecodeError>): Protocol.DecodeError =>
  Either.getOrThrow(Either.flip(result))

describe("Protocol.decodeRawEvent", () => {
  it("decodes every FDv2 event from its SSE data", () => {
    expect(
      decoded(
        Protocol.decodeRawEvent(
          raw("server-intent", { payloads: [{ id: "p1", target: 3, intentCode: "xfer-full", reason: "x" }] })
        )
      )
    ).toEqual(Protocol.Event.ServerIntent({ intentCode: "xfer-full", payloadId: "p1", reason: "x" }))
    expect(
      decoded(
        Protocol.decodeRawEvent(
          raw("put-object", { kind: "flag", key: "a", version: 2, object: { on: true } })
        )
      )
    ).toEqual(Protocol.Event.PutObject({ kind: "flag", key: "a", version: 2, object: { on: true } }))
    expect(
      decoded(Protocol.decodeRawEvent(raw("delete-object", { kind: "flag", key: "a", version: 3 })))
    ).toEqual(Protocol.Event.DeleteObject({ kind: "flag", key: "a", version: 3 }))
    expect(decoded(Protocol.decodeRawEvent(raw("payload-transferred", { state: "s1", version: 3 })))).toEqual(
      Protocol.Event.PayloadTransferred({ state: "s1", version: 3 })
    )
    expect(
      decoded(
        Protocol.decodeRawEvent(raw("goodbye", { reason: "bye", silent: true, protocolFallbackTTL: 60 }))
      )
    ).toEqual(
      Protocol.Event.Goodbye({ reason: "bye", silent: true, protocolFallbackTtlSeconds: Option.some(60) })
    )
    expect(decoded(Protocol.decodeRawEvent(raw("error", { payload_id: "p1", reason: "oops" })))).toEqual(
      Protocol.Event.ServerError({ payloadId: "p1", reason: "oops" })
    )
    expect(decoded(Protocol.decodeRawEvent({ event: "heart-beat", data: "" }))).toEqual(
      Protocol.Event.HeartBeat()
    )
  })

  it("fills goodbye defaults and decodes an unknown event name as Unknown", () => {
    expect(decoded(Protocol.decodeRawEvent(raw("goodbye", {})))).toEqual(
      Protocol.Event.Goodbye({ reason: "", silent: false, protocolFallbackTtlSeconds: Option.none() })
    )
    expect(decoded(Protocol.decodeRawEvent(raw("ping", {})))).toEqual(
      Protocol.Event.Unknown({ name: "ping" })
    )
  })

  it("reports invalid JSON as a categorized error without echoing the data", () => {
    const error = failure(
      Protocol.decodeRawEvent({ event: "put-object", data: '{"kind":"flag","key":"sdk-key-123' })
    )
    expect(error._tag).toBe("InvalidJsonError")
    expect(error.category).toBe("invalid-json")
    expect(error.message).toBe("put-object data is not valid JSON")
  })

  it("reports a malformed event naming the event and the offending field", () => {
    const error = failure(
      Protocol.decodeRawEvent(raw("put-object", { kind: "flag", key: "a", version: "two", object: {} }))
    )
    expect(error._tag).toBe("MalformedEventError")
    expect(error.category).toBe("malformed-event")
    expect(error.message).toContain("put-object")
    expect(error.message).toBe("malformed put-object event: data.version: Expected number")
    expect(error.message).not.toContain("two")
  })

  it("rejects a server-intent without payloads or with an unknown intent code", () => {
    expect(failure(Protocol.decodeRawEvent(raw("server-intent", { payloads: [] })))._tag).toBe(
      "MalformedEventError"
    )
    expect(
      failure(Protocol.decodeRawEvent(raw("server-intent", { payloads: [{ intentCode: "xfer-some" }] })))._tag
    ).toBe("MalformedEventError")
    expect(failure(Protocol.decodeRawEvent(raw("payload-transferred", null)))._tag).toBe(
      "MalformedEventError"
    )
  })

  it("rejects data over the size limit before parsing it", () => {
    const data = JSON.stringify({ kind: "flag", key: "a", version: 1, object: { blob: "é".repeat(600) } })
    const error = failure(Protocol.decodeRawEvent({ event: "put-object", data }, { maxPayloadBytes: 1000 }))
    expect(error).toBeInstanceOf(Protocol.PayloadTooLargeError)
    expect(error.category).toBe("payload-too-large")
    if (error._tag === "PayloadTooLargeError") {
      expect(error.sizeBytes).toBe(Buffer.byteLength(data, "utf8"))
      expect(error.limitBytes).toBe(1000)
    }
    expect(
      Either.isRight(Protocol.decodeRawEvent({ event: "put-object", data }, { maxPayloadBytes: 2000 }))
    ).toBe(true)
  })
})

describe("Protocol.decodePollingBody", () => {
  const body = {
    events: [
      {
        event: "server-intent",
        data: { payloads: [{ id: "p", target: 1, intentCode: "xfer-full", reason: "" }] }
      },
      { event: "put-object", data: { kind: "flag", key: "a", version: 1, object: {} } },
      { event: "payload-transferred", data: { state: "s", version: 1 } }
    ]
  }

  it("decodes the events of a polling body in order", () => {
    const events = Either.getOrThrow(Protocol.decodePollingBody(JSON.stringify(body)))
    expect(events.map((event) => event._tag)).toEqual(["ServerIntent", "PutObject", "PayloadTransferred"])
  })

  it("rejects the whole body when one event is malformed", () => {
    const bad = { events: [...body.events.slice(0, 2), { event: "payload-transferred", data: { state: 1 } }] }
    const error = failure(Protocol.decodePollingBody(JSON.stringify(bad)))
    expect(error._tag).toBe("MalformedEventError")
    expect(error.message).toContain("payload-transferred")
  })

  it("categorizes a non-JSON body, a body without events and an oversized body", () => {
    expect(failure(Protocol.decodePollingBody("<html>502</html>"))._tag).toBe("InvalidJsonError")
    expect(failure(Protocol.decodePollingBody(JSON.stringify({ items: [] })))._tag).toBe(
      "MalformedEventError"
    )
    expect(failure(Protocol.decodePollingBody(JSON.stringify(body), { maxPayloadBytes: 50 }))._tag).toBe(
      "PayloadTooLargeError"
    )
  })
})
