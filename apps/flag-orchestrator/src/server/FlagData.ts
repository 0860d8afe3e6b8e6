/**
 * The data `serve-fdv2` serves: objects by kind and key, a payload version bumped by every change,
 * and a `PubSub` that carries each change (and each injected fault) to every open stream.
 *
 * The selector state the server issues is `<epoch>-<version>`; the epoch is random per server, so a
 * basis from another server instance never matches and gets a full transfer.
 */
import { Data, Effect, HashMap, Option, PubSub, type Queue, type Scope } from "effect"
import type * as Protocol from "../Protocol.js"
import type * as FlagsFile from "./FlagsFile.js"

/** The object kinds the server holds. */
export type Kind = "flag" | "segment"

/** One stored object and the payload version that last changed it. */
export interface Item {
  readonly kind: Kind
  readonly key: string
  readonly version: number
  readonly object: unknown
}

/** The data at one payload version. */
export interface Snapshot {
  readonly version: number
  /** The selector state of this version, sent in `payload-transferred` and compared with `basis`. */
  readonly state: string
  readonly items: HashMap.HashMap<string, Item>
}

/** What goes out to every open stream. */
export type Broadcast = Data.TaggedEnum<{
  /** A change: its events (updates then `payload-transferred`), at payload `version`. */
  Changes: { readonly version: number; readonly events: ReadonlyArray<Protocol.RawEvent> }
  /** Injected events sent as they are (goodbye, error, ping, invalid data…). */
  Events: { readonly events: ReadonlyArray<Protocol.RawEvent> }
  /** Injected fault: the server ends every stream cleanly. */
  End: Record<never, never>
  /** Injected fault: the server destroys every stream's socket. */
  Drop: Record<never, never>
}>

/** Constructors and guards for `Broadcast`. */
export const Broadcast = Data.taggedEnum<Broadcast>()

/** The live data of one server. */
export interface FlagData {
  /** The data now. */
  readonly snapshot: Effect.Effect<Snapshot>
  /** Puts `object` at `kind`/`key` under a new payload version and streams the change. */
  readonly put: (kind: Kind, key: string, object: unknown) => Effect.Effect<Snapshot>
  /** Deletes `kind`/`key` under a new payload version and streams it; `None` when there was nothing to delete. */
  readonly remove: (kind: Kind, key: string) => Effect.Effect<Option.Option<Snapshot>>
  /** Sends `broadcast` to every open stream. */
  readonly broadcast: (broadcast: Broadcast) => Effect.Effect<void>
  /**
   * A subscription to every later broadcast together with the snapshot taken after subscribing, so
   * a stream that sends the snapshot and then the changes newer than it misses nothing.
   */
  readonly subscribe: Effect.Effect<
    { readonly snapshot: Snapshot; readonly changes: Queue.Dequeue<Broadcast> },
    never,
    Scope.Scope
  >
}

/** The map key of `kind`/`key`. */
export const itemKey = (kind: Kind, key: string): string => `${kind}/${key}`

/** The `put-object` event of one item. */
export const putEvent = (item: Item): Protocol.RawEvent => ({
  event: "put-object",
  data: JSON.stringify({ kind: item.kind, key: item.key, version: item.version, object: item.object })
})

/** The `payload-transferred` event of a snapshot. */
export const transferredEvent = (snapshot: Snapshot): Protocol.RawEvent => ({
  event: "payload-transferred",
  data: JSON.stringify({ state: snapshot.state, version: snapshot.version })
})

/** The `server-intent` event for `intentCode`. */
export const intentEvent = (intentCode: Protocol.IntentCode, version: number): Protocol.RawEvent => ({
  event: "server-intent",
  data: JSON.stringify({ payloads: [{ id: "payload", target: version, intentCode, reason: "" }] })
})

/** A full transfer of `snapshot`: intent `xfer-full`, every object, `payload-transferred`. */
export const fullTransfer = (snapshot: Snapshot): ReadonlyArray<Protocol.RawEvent> => [
  intentEvent("xfer-full", snapshot.version),
  ...Array.from(HashMap.values(snapshot.items), putEvent),
  transferredEvent(snapshot)
]

/** What a client holding `basis` needs first: intent `none` when it is current, else a full transfer. */
export const initialTransfer = (snapshot: Snapshot, basis: string): ReadonlyArray<Protocol.RawEvent> =>
  basis === snapshot.state ? [intentEvent("none", snapshot.version)] : fullTransfer(snapshot)

/** Creates the data from `initial`, at payload version 1. */
export const make = (initial: FlagsFile.InitialData = { flag: {}, segment: {} }): Effect.Effect<FlagData> =>
  Effect.gen(function* () {
    const epoch = Math.random().toString(36).slice(2, 10)
    const stateOf = (version: number) => `${epoch}-${version}`
    let items = HashMap.empty<string, Item>()
    for (const kind of ["flag", "segment"] as const) {
      for (const [key, object] of Object.entries(initial[kind])) {
        items = HashMap.set(items, itemKey(kind, key), { kind, key, version: 1, object })
      }
    }
    let current: Snapshot = { version: 1, state: stateOf(1), items }
    const pubsub = yield* PubSub.unbounded<Broadcast>()
    const lock = yield* Effect.makeSemaphore(1)

    /** Applies one change under the lock and publishes it before anyone can read the next snapshot. */
    const change = (
      build: (
        version: number
      ) => Option.Option<{ items: HashMap.HashMap<string, Item>; event: Protocol.RawEvent }>
    ) =>
      lock.withPermits(1)(
        Effect.suspend(() => {
          const version = current.version + 1
          const built = build(version)
          if (Option.isNone(built)) return Effect.succeed(Option.none<Snapshot>())
          const next: Snapshot = { version, state: stateOf(version), items: built.value.items }
          current = next
          return PubSub.publish(
            pubsub,
            Broadcast.Changes({ version, events: [built.value.event, transferredEvent(next)] })
          ).pipe(Effect.as(Option.some(next)))
        })
      )

    return {
      snapshot: Effect.sync(() => current),
      put: (kind, key, object) =>
        change((version) => {
          const item: Item = { kind, key, version, object }
          return Option.some({
            items: HashMap.set(current.items, itemKey(kind, key), item),
            event: putEvent(item)
          })
        }).pipe(Effect.map(Option.getOrThrow)),
      remove: (kind, key) =>
        change((version) =>
          HashMap.has(current.items, itemKey(kind, key))
            ? Option.some({
                items: HashMap.remove(current.items, itemKey(kind, key)),
                event: { event: "delete-object", data: JSON.stringify({ kind, key, version }) }
              })
            : Option.none()
        ),
      broadcast: (broadcast) => PubSub.publish(pubsub, broadcast).pipe(Effect.asVoid),
      subscribe: lock.withPermits(1)(
        Effect.map(PubSub.subscribe(pubsub), (changes) => ({ snapshot: current, changes }))
      )
    }
  })
