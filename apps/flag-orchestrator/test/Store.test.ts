import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import * as ChangeSet from "../src/ChangeSet.js"
import * as Protocol from "../src/Protocol.js"
import * as ProtocolHandler from "../src/ProtocolHandler.js"
import * as Selector from "../src/Selector.js"
import * as Store from "../src/Store.js"

const put = (key: string, version: number, kind = "flag") =>
  ChangeSet.Update.Put({ kind, key, version, object: { key, version } })
const remove = (key: string, version: number, kind = "flag") =>
  ChangeSet.Update.Delete({ kind, key, version })
const full = (state: string, ...updates: Array<ChangeSet.Update>) =>
  ChangeSet.ChangeSet.Full({ selector: Selector.make(state, updates.length), updates })
const partial = (state: string, ...updates: Array<ChangeSet.Update>) =>
  ChangeSet.ChangeSet.Partial({ selector: Selector.make(state, updates.length), updates })
const versionOf = (store: Store.Store, key: string, kind = "flag") =>
  Option.map(Store.get(store, kind, key), (item) => item.version)

const seeded = Store.apply(Store.empty, full("s1", put("a", 5), put("b", 5), put("seg", 1, "segment"))).store

describe("Store", () => {
  it("a full change set fills the store and adopts its selector", () => {
    expect(versionOf(seeded, "a")).toEqual(Option.some(5))
    expect([...Store.all(seeded, "flag").keys()].sort()).toEqual(["a", "b"])
    expect(Store.all(seeded, "segment").get("seg")).toEqual({ key: "seg", version: 1 })
    expect(seeded.selector).toEqual(Selector.make("s1", 3))
  })

  it("a partial change set applies newer versions and ignores ones not newer than stored", () => {
    const { store, applied } = Store.apply(
      seeded,
      partial("s2", put("a", 6), put("b", 5), put("b", 4), put("c", 1))
    )
    expect(versionOf(store, "a")).toEqual(Option.some(6))
    expect(versionOf(store, "b")).toEqual(Option.some(5))
    expect(versionOf(store, "c")).toEqual(Option.some(1))
    expect(applied).toEqual([put("a", 6), put("c", 1)])
    expect(store.selector.state).toBe("s2")
  })

  it("a delete removes the object but keeps its version, so an older put cannot resurrect it", () => {
    const deleted = Store.apply(seeded, partial("s2", remove("a", 7))).store
    expect(Option.isNone(Store.get(deleted, "flag", "a"))).toBe(true)
    expect(Store.all(deleted, "flag").has("a")).toBe(false)
    const stale = Store.apply(deleted, partial("s3", put("a", 6), remove("b", 5)))
    expect(stale.applied).toEqual([])
    expect(Option.isNone(Store.get(stale.store, "flag", "a"))).toBe(true)
    expect(versionOf(stale.store, "b")).toEqual(Option.some(5))
    expect(versionOf(Store.apply(deleted, partial("s4", put("a", 8))).store, "a")).toEqual(Option.some(8))
  })

  it("a full change set replaces everything, including kinds it does not mention and higher versions", () => {
    const { store } = Store.apply(seeded, full("s9", put("a", 1)))
    expect([...Store.all(store, "flag").keys()]).toEqual(["a"])
    expect(versionOf(store, "a")).toEqual(Option.some(1))
    expect(Store.all(store, "segment").size).toBe(0)
    expect(store.selector.state).toBe("s9")
  })

  it("a None change set changes nothing, selector included", () => {
    const { store, applied } = Store.apply(seeded, ChangeSet.none)
    expect(store).toBe(seeded)
    expect(applied).toEqual([])
  })

  it("an empty selector in a payload clears the held selector", () => {
    const cleared = Store.apply(
      seeded,
      ChangeSet.ChangeSet.Partial({ selector: Selector.empty, updates: [put("a", 9)] })
    ).store
    expect(Selector.isEmpty(cleared.selector)).toBe(true)
  })

  it("never mutates the store it was given", () => {
    Store.apply(seeded, partial("s2", put("a", 6), remove("b", 9), put("new", 1, "segment")))
    expect(versionOf(seeded, "a")).toEqual(Option.some(5))
    expect(versionOf(seeded, "b")).toEqual(Option.some(5))
    expect(Store.all(seeded, "segment").has("new")).toBe(false)
    expect(seeded.selector.state).toBe("s1")
  })

  it("bad input on a stream (malformed, invalid JSON, oversized) leaves the store untouched", () => {
    const handler = ProtocolHandler.make()
    let store = seeded
    const stream: ReadonlyArray<Protocol.RawEvent> = [
      { event: "server-intent", data: JSON.stringify({ payloads: [{ intentCode: "xfer-changes" }] }) },
      { event: "put-object", data: JSON.stringify({ kind: "flag", key: "a", version: 9, object: {} }) },
      { event: "put-object", data: '{"kind":"flag","key":"b","version":9,' },
      { event: "put-object", data: JSON.stringify({ kind: "flag", key: "b", version: "9", object: {} }) },
      {
        event: "put-object",
        data: JSON.stringify({ kind: "flag", key: "c", version: 1, object: "x".repeat(500) })
      },
      { event: "payload-transferred", data: JSON.stringify({ state: 7 }) }
    ]
    const failures: Array<Protocol.DecodeErrorCategory> = []
    for (const raw of stream) {
      Either.match(Protocol.decodeRawEvent(raw, { maxPayloadBytes: 200 }), {
        onLeft: (error) => failures.push(error.category),
        onRight: (event) => {
          const action = handler.process(event)
          if (action._tag === "ChangeSet") store = Store.apply(store, action.changeSet).store
        }
      })
    }
    expect(failures).toEqual(["invalid-json", "malformed-event", "payload-too-large", "malformed-event"])
    expect(store).toBe(seeded)
    expect(versionOf(store, "a")).toEqual(Option.some(5))
  })
})
