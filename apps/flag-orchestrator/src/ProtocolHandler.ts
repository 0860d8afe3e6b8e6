/**
 * The FDv2 protocol state machine: events in, one action per event out.
 *
 * ```
 * source (SSE / poll) ──Event──▶ ProtocolHandler.process ──Action──▶ orchestrator (store, status, tiers)
 * ```
 *
 * Rules: nothing is applied before `payload-transferred`; put/delete before any `server-intent` are
 * ignored; objects of kinds outside `kinds` are dropped; `error` discards the updates gathered so far
 * and later updates under the same intent still apply; `heart-beat` is ignored; intent `none` yields
 * the `None` change set at once. After a transfer the handler keeps the intent as `xfer-changes`, so
 * later updates on the same connection form partial change sets.
 *
 * A handler holds the half-received payload of one connection. It performs no I/O; build a new one
 * with `make` for every connection or poll so a half transfer never leaks into the next.
 */
import { Data, Either, type Option } from "effect"
import * as ChangeSet from "./ChangeSet.js"
import * as FallbackDirective from "./FallbackDirective.js"
import * as Protocol from "./Protocol.js"
import * as Selector from "./Selector.js"

/** Why an event was ignored. */
export type IgnoredReason = "heart-beat" | "before-intent" | "unknown-kind" | "unknown-event"

/** What the caller should do after one event. */
export type Action = Data.TaggedEnum<{
  /** A payload was transferred: apply the change set. */
  ChangeSet: { readonly changeSet: ChangeSet.ChangeSet }
  /** The event was accepted into the pending payload; nothing to do yet. */
  Pending: Record<never, never>
  /** The server is closing the connection; `directive` is set when it asked for FDv1. */
  Goodbye: {
    readonly reason: string
    readonly silent: boolean
    readonly directive: Option.Option<FallbackDirective.FallbackDirective>
  }
  /** The server reported an error for the payload; the pending updates were discarded. */
  ServerError: { readonly payloadId: string; readonly reason: string }
  /** The event had no effect. */
  Ignored: { readonly reason: IgnoredReason }
}>

/** Constructors, guards and a matcher for `Action`. */
export const Action = Data.taggedEnum<Action>()

/** Handler options: the object kinds this client stores; others are dropped. */
export interface Options {
  readonly kinds: ReadonlySet<string>
}

/** The server-side kinds: `flag` and `segment`. */
export const defaultOptions: Options = { kinds: new Set(["flag", "segment"]) }

/** A per-connection protocol handler; `process` takes events in arrival order. */
export interface ProtocolHandler {
  readonly process: (event: Protocol.Event) => Action
}

type PendingIntent = "none-yet" | "full" | "partial"

const pending: Action = Action.Pending()
const ignoredBeforeIntent: Action = Action.Ignored({ reason: "before-intent" })
const ignoredUnknownKind: Action = Action.Ignored({ reason: "unknown-kind" })
const ignoredHeartBeat: Action = Action.Ignored({ reason: "heart-beat" })

/** A fresh handler with no intent and no pending updates. */
export const make = (options: Options = defaultOptions): ProtocolHandler => {
  let intent: PendingIntent = "none-yet"
  let updates: Array<ChangeSet.Update> = []

  const accept = (kind: string, update: () => ChangeSet.Update): Action => {
    if (intent === "none-yet") return ignoredBeforeIntent
    if (!options.kinds.has(kind)) return ignoredUnknownKind
    updates.push(update())
    return pending
  }

  const process = (event: Protocol.Event): Action => {
    switch (event._tag) {
      case "ServerIntent": {
        updates = []
        if (event.intentCode === "none") {
          intent = "partial"
          return Action.ChangeSet({ changeSet: ChangeSet.none })
        }
        intent = event.intentCode === "xfer-full" ? "full" : "partial"
        return pending
      }
      case "PutObject":
        return accept(event.kind, () =>
          ChangeSet.Update.Put({
            kind: event.kind,
            key: event.key,
            version: event.version,
            object: event.object
          })
        )
      case "DeleteObject":
        return accept(event.kind, () =>
          ChangeSet.Update.Delete({ kind: event.kind, key: event.key, version: event.version })
        )
      case "PayloadTransferred": {
        if (intent === "none-yet") return ignoredBeforeIntent
        const selector = Selector.make(event.state, event.version)
        const changeSet =
          intent === "full"
            ? ChangeSet.ChangeSet.Full({ selector, updates })
            : ChangeSet.ChangeSet.Partial({ selector, updates })
        updates = []
        intent = "partial"
        return Action.ChangeSet({ changeSet })
      }
      case "Goodbye":
        return Action.Goodbye({
          reason: event.reason,
          silent: event.silent,
          directive: FallbackDirective.fromGoodbye(event.protocolFallbackTtlSeconds)
        })
      case "ServerError":
        updates = []
        return Action.ServerError({ payloadId: event.payloadId, reason: event.reason })
      case "HeartBeat":
        return ignoredHeartBeat
      case "Unknown":
        return Action.Ignored({ reason: "unknown-event" })
    }
  }

  return { process }
}

/** Runs `events` (e.g. one polling body) through a fresh handler and returns every action in order. */
export const processAll = (
  events: Iterable<Protocol.Event>,
  options: Options = defaultOptions
): ReadonlyArray<Action> => {
  const handler = make(options)
  return Array.from(events, handler.process)
}

/** The actions of an HTTP 304 poll response: the `None` change set (the data is current). */
export const notModified: ReadonlyArray<Action> = [Action.ChangeSet({ changeSet: ChangeSet.none })]

/** Decodes a polling body and runs it through a fresh handler; a bad body yields its error and no actions. */
export const processPollingBody = (
  body: string,
  options: Options & Protocol.DecodeOptions = { ...defaultOptions, ...Protocol.defaultDecodeOptions }
): Either.Either<ReadonlyArray<Action>, Protocol.DecodeError> =>
  Either.map(Protocol.decodePollingBody(body, options), (events) => processAll(events, options))
