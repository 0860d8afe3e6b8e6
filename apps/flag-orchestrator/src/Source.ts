/**
 * The contract between the orchestrator and its data sources.
 *
 * An **initializer** runs once and answers with one result. A **synchronizer** runs as a stream
 * of results: it reconnects by itself on transient failures (reporting each one as
 * `Interrupted`) and ends after a result that asks the orchestrator to act — `Terminal`,
 * `Recycle` or `Fdv1Fallback`. The orchestrator may interrupt a run at any time; a run owns its
 * fibers and connections in the stream's scope, so nothing outlives it.
 *
 * Ordering carries meaning: a response that brings a payload and the FDv1 directive yields
 * `ChangeSet` first and `Fdv1Fallback` second, so the payload is applied before FDv1 engages.
 */
import { Data, type Effect, type Option, type Stream } from "effect"
import type * as ChangeSet from "./ChangeSet.js"
import type * as FallbackDirective from "./FallbackDirective.js"
import type * as Selector from "./Selector.js"

/**
 * Why a source failed, as a category safe to show in statuses and logs. Raw exception text
 * is never carried: it can hold URLs and keys.
 */
export type ErrorCategory =
  | "network-error"
  | "http-status"
  | "invalid-data"
  | "payload-too-large"
  | "server-error"
  | "timeout"
  | "unknown"

/** A categorized source failure: `status` is the HTTP status when there was one. */
export class SourceError extends Data.Class<{
  readonly category: ErrorCategory
  readonly status: Option.Option<number>
  /** A short, sanitized description, e.g. "HTTP 503 from the polling endpoint". */
  readonly message: string
}> {}

/** What a source reports. */
export type Result = Data.TaggedEnum<{
  /** A payload transferred: apply it. A `Full` or `Partial` change set carries its selector. */
  ChangeSet: { readonly changeSet: ChangeSet.ChangeSet }
  /** A transient failure; a synchronizer keeps retrying with backoff after reporting it. */
  Interrupted: { readonly error: SourceError }
  /** An unrecoverable failure (e.g. HTTP 401, 403, 404): block this slot. Ends the run. */
  Terminal: { readonly error: SourceError }
  /** Goodbye, an unexpected end of stream or invalid data: run the same slot again later. Ends the run. */
  Recycle: { readonly reason: RecycleReason }
  /** The server asked for FDv1 (header or goodbye's `protocolFallbackTTL`). Ends the run. */
  Fdv1Fallback: { readonly directive: FallbackDirective.FallbackDirective }
}>

/** Why a synchronizer run asks to be recycled. */
export type RecycleReason = "goodbye" | "end-of-stream" | "invalid-data"

/** Constructors, guards and a matcher for `Result`. */
export const Result = Data.taggedEnum<Result>()

/** Whether a data source speaks FDv2 or is part of the FDv1 fallback tier. */
export type Protocol = "fdv2" | "fdv1"

/** Runs once: the first result it yields is its answer (a `ChangeSet`, or a failure). */
export interface Initializer {
  readonly name: string
  /** `basis` is the selector held now (empty when none). */
  readonly run: (basis: Selector.Selector) => Effect.Effect<Result>
}

/** Runs as a stream of results until it ends or is interrupted. */
export interface Synchronizer {
  readonly name: string
  readonly protocol: Protocol
  /** `basis` is read at every (re)connect, so a reconnect sends the latest selector. */
  readonly run: (basis: Effect.Effect<Selector.Selector>) => Stream.Stream<Result>
}
