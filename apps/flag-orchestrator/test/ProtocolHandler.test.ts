import { describe, expect, it } from "@effect/vitest"
import { Duration, Either, Option } from "effect"
import * as ChangeSet from "../src/ChangeSet.js"
import * as Protocol from "../src/Protocol.js"
import * as ProtocolHandler from "../src/ProtocolHandler.js"
import * as Selector from "../src/Selector.js"

const { Event } = Protocol
const { Action } = ProtocolHandler
const intent = (intentCode: Protocol.IntentCode) =>
  Event.ServerIntent({ intentCode, payloadId: "p", reason: "" })
const put = (key: string, version: number, kind = "flag") =>
  Event.PutObject({ kind, key, version, object: { key, version } })
const remove = (key: string, version: number) => Event.DeleteObject({ kind: "flag", key, version })
const transferred = (state: string, version: number) => Event.PayloadTransferred({ state, version })
const putUpdate = (key: string, version: number) =>
  ChangeSet.Update.Put({ kind: "flag", key, version, object: { key, version } })

const changeSets = (actions: ReadonlyArray<ProtocolHandler.Action>): ReadonlyArray<ChangeSet.ChangeSet> =>
  actions.flatMap((action) => (action._tag === "ChangeSet" ? [action.changeSet] : []))

describe("ProtocolHandler", () => {
  it("applies nothing before payload-transferred, then yields the full change set and its selector", () => {
    const handler = ProtocolHandler.make()
    expect(handler.process(intent("xfer-full"))).toEqual(Action.Pending())
    expect(handler.process(put("a", 1))).toEqual(Action.Pending())
    expect(handler.process(remove("b", 2))).toEqual(Action.Pending())
    expect(handler.process(transferred("s1", 2))).toEqual(
      Action.ChangeSet({
        changeSet: ChangeSet.ChangeSet.Full({
          selector: Selector.make("s1", 2),
          updates: [putUpdate("a", 1), ChangeSet.Update.Delete({ kind: "flag", key: "b", version: 2 })]
        })
      })
    )
  })

  it("yields a partial change set for xfer-changes and for updates after a transfer on the same connection", () => {
    const actions = ProtocolHandler.processAll([
      intent("xfer-changes"),
      put("a", 2),
      transferred("s2", 2),
      put("b", 3),
      transferred("s3", 3)
    ])
    expect(changeSets(actions)).toEqual([
      ChangeSet.ChangeSet.Partial({ selector: Selector.make("s2", 2), updates: [putUpdate("a", 2)] }),
      ChangeSet.ChangeSet.Partial({ selector: Selector.make("s3", 3), updates: [putUpdate("b", 3)] })
    ])
  })

  it("ignores put, delete and payload-transferred before any server-intent", () => {
    const actions = ProtocolHandler.processAll([
      put("early", 1),
      remove("early", 2),
      transferred("s0", 1),
      intent("xfer-full"),
      put("a", 1),
      transferred("s1", 1)
    ])
    expect(actions.slice(0, 3)).toEqual([
      Action.Ignored({ reason: "before-intent" }),
      Action.Ignored({ reason: "before-intent" }),
      Action.Ignored({ reason: "before-intent" })
    ])
    expect(changeSets(actions)).toEqual([
      ChangeSet.ChangeSet.Full({ selector: Selector.make("s1", 1), updates: [putUpdate("a", 1)] })
    ])
  })

  it("drops objects of unknown kinds", () => {
    const actions = ProtocolHandler.processAll([
      intent("xfer-full"),
      put("a", 1),
      put("x", 1, "experiment"),
      put("seg", 1, "segment"),
      transferred("s1", 1)
    ])
    expect(actions[2]).toEqual(Action.Ignored({ reason: "unknown-kind" }))
    const [full] = changeSets(actions)
    expect(full?._tag === "Full" && full.updates.map((update) => update.kind)).toEqual(["flag", "segment"])
  })

  it("accepts the kinds it is configured with", () => {
    const actions = ProtocolHandler.processAll([intent("xfer-full"), put("a", 1, "flagEval"), put("b", 1)], {
      kinds: new Set(["flagEval"])
    })
    expect(actions.slice(1)).toEqual([Action.Pending(), Action.Ignored({ reason: "unknown-kind" })])
  })

  it("discards the batch on error; later updates under the same intent still apply", () => {
    const actions = ProtocolHandler.processAll([
      intent("xfer-full"),
      put("lost", 1),
      Event.ServerError({ payloadId: "p", reason: "db timeout" }),
      put("kept", 2),
      transferred("s1", 2)
    ])
    expect(actions[2]).toEqual(Action.ServerError({ payloadId: "p", reason: "db timeout" }))
    expect(changeSets(actions)).toEqual([
      ChangeSet.ChangeSet.Full({ selector: Selector.make("s1", 2), updates: [putUpdate("kept", 2)] })
    ])
  })

  it("ignores heart-beats and unknown events without disturbing the pending payload", () => {
    const actions = ProtocolHandler.processAll([
      intent("xfer-full"),
      put("a", 1),
      Event.HeartBeat(),
      Event.Unknown({ name: "ping" }),
      transferred("s1", 1)
    ])
    expect(actions.slice(2, 4)).toEqual([
      Action.Ignored({ reason: "heart-beat" }),
      Action.Ignored({ reason: "unknown-event" })
    ])
    expect(changeSets(actions)).toEqual([
      ChangeSet.ChangeSet.Full({ selector: Selector.make("s1", 1), updates: [putUpdate("a", 1)] })
    ])
  })

  it("turns intent none into the None change set at once, discarding anything pending", () => {
    const actions = ProtocolHandler.processAll([intent("xfer-full"), put("a", 1), intent("none")])
    expect(actions[2]).toEqual(Action.ChangeSet({ changeSet: ChangeSet.none }))
  })

  it("a new server-intent restarts the payload: earlier pending updates are not applied", () => {
    const actions = ProtocolHandler.processAll([
      intent("xfer-changes"),
      put("stale", 1),
      intent("xfer-full"),
      put("a", 1),
      transferred("s1", 1)
    ])
    expect(changeSets(actions)).toEqual([
      ChangeSet.ChangeSet.Full({ selector: Selector.make("s1", 1), updates: [putUpdate("a", 1)] })
    ])
  })

  it("clears the selector when the payload ends with an empty state", () => {
    const [changeSet] = changeSets(ProtocolHandler.processAll([intent("xfer-full"), transferred("", 5)]))
    expect(changeSet).toEqual(ChangeSet.ChangeSet.Full({ selector: Selector.empty, updates: [] }))
  })

  it("turns goodbye into an action for the orchestrator, with the FDv1 directive when it carries a TTL", () => {
    const handler = ProtocolHandler.make()
    expect(
      handler.process(
        Event.Goodbye({ reason: "restart", silent: false, protocolFallbackTtlSeconds: Option.none() })
      )
    ).toEqual(Action.Goodbye({ reason: "restart", silent: false, directive: Option.none() }))
    const withDirective = handler.process(
      Event.Goodbye({ reason: "fdv1", silent: true, protocolFallbackTtlSeconds: Option.some(-1) })
    )
    expect(
      withDirective._tag === "Goodbye" && Option.map(withDirective.directive, (d) => Duration.toMillis(d.ttl))
    ).toEqual(Option.some(0))
  })

  it("a handler rebuilt for a new connection never leaks the previous connection's half transfer", () => {
    const first = ProtocolHandler.make()
    first.process(intent("xfer-full"))
    first.process(put("half", 1))
    const second = ProtocolHandler.make()
    expect(second.process(put("b", 1))).toEqual(Action.Ignored({ reason: "before-intent" }))
    expect(second.process(transferred("s1", 1))).toEqual(Action.Ignored({ reason: "before-intent" }))
    second.process(intent("xfer-full"))
    expect(changeSets([second.process(transferred("s2", 2))])).toEqual([
      ChangeSet.ChangeSet.Full({ selector: Selector.make("s2", 2), updates: [] })
    ])
  })

  it("runs a decoded polling body through a fresh handler into one change set", () => {
    const body = JSON.stringify({
      events: [
        { event: "server-intent", data: { payloads: [{ id: "p", target: 1, intentCode: "xfer-changes" }] } },
        {
          event: "put-object",
          data: { kind: "flag", key: "a", version: 4, object: { key: "a", version: 4 } }
        },
        { event: "payload-transferred", data: { state: "s4", version: 4 } }
      ]
    })
    const events = Either.getOrThrow(Protocol.decodePollingBody(body))
    expect(changeSets(ProtocolHandler.processAll(events))).toEqual([
      ChangeSet.ChangeSet.Partial({ selector: Selector.make("s4", 4), updates: [putUpdate("a", 4)] })
    ])
  })

  it("a 304 poll response is the None change set; a bad polling body yields an error and no actions", () => {
    expect(changeSets(ProtocolHandler.notModified)).toEqual([ChangeSet.none])
    const bad = ProtocolHandler.processPollingBody(
      '{"events":[{"event":"put-object","data":{"kind":"flag"}}]}'
    )
    expect(Either.getOrThrow(Either.flip(bad))._tag).toBe("MalformedEventError")
    const tooBig = ProtocolHandler.processPollingBody('{"events":[]}', {
      ...ProtocolHandler.defaultOptions,
      maxPayloadBytes: 4
    })
    expect(Either.getOrThrow(Either.flip(tooBig))._tag).toBe("PayloadTooLargeError")
    expect(Either.getOrThrow(ProtocolHandler.processPollingBody('{"events":[]}'))).toEqual([])
  })
})
