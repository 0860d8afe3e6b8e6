/**
 * The data system's status and the rules that keep it meaningful.
 *
 * ```text
 *   orchestrator / modes ──report(candidate)──▶ sanitize(previous, candidate) ──changed?──▶ Status (SubscriptionRef)
 * ```
 *
 * States: `initializing` (once, first), `valid`, `interrupted`, `offline` (with a detail),
 * `shutdown` (every source exhausted before any data) and `closed`. Sanitizing:
 * - `initializing` is only ever the first state; it is never entered again.
 * - `interrupted` never follows `initializing` directly: the state stays `initializing` and
 *   carries the error.
 * - A status identical to the current one (state, detail, error) is not emitted again.
 * - `closed` is final.
 *
 * Errors carry a category and a short sanitized message (never raw exception text, which can
 * hold URLs and keys).
 */
import { Status } from "@converge/core"
import { Clock, Effect, Schema } from "effect"
import type * as Source from "./Source.js"

/** The states of the data system. */
export const State = Schema.Literal("initializing", "valid", "interrupted", "offline", "shutdown", "closed")

/** One of the data system's states. */
export type State = typeof State.Type

/** Why the data system is offline: asked to be, no network, or in the background without `runInBackground`. */
export const OfflineDetail = Schema.Literal("setOffline", "networkUnavailable", "backgroundDisabled")

/** The reason a data system is offline. */
export type OfflineDetail = typeof OfflineDetail.Type

/** Error categories in a status: a source's categories plus `sources-exhausted`. */
export const ErrorCategory = Schema.Literal(
  "network-error",
  "http-status",
  "invalid-data",
  "payload-too-large",
  "server-error",
  "timeout",
  "unknown",
  "sources-exhausted"
)

/** A status error's category. */
export type ErrorCategory = typeof ErrorCategory.Type

/** The last error worth showing: a category, the HTTP status if any, and a sanitized message. */
export class StatusError extends Schema.Class<StatusError>("StatusError")({
  category: ErrorCategory,
  httpStatus: Schema.optionalWith(Schema.Number, { exact: true }),
  message: Schema.String
}) {}

/** A snapshot of the data system's status; `since` is when `state` was entered (epoch milliseconds). */
export class DataStatus extends Schema.Class<DataStatus>("DataStatus")({
  state: State,
  offlineDetail: Schema.optionalWith(OfflineDetail, { exact: true }),
  error: Schema.optionalWith(StatusError, { exact: true }),
  since: Schema.Number
}) {}

/** What a reporter proposes; sanitizing decides what is emitted. */
export type Candidate =
  | { readonly state: "valid" }
  | { readonly state: "interrupted"; readonly error: StatusError }
  | { readonly state: "offline"; readonly detail: OfflineDetail }
  | { readonly state: "shutdown"; readonly error: StatusError }
  | { readonly state: "closed" }

/** The status error for a categorized source error. */
export const errorOf = (error: Source.SourceError): StatusError =>
  error.status._tag === "Some"
    ? new StatusError({ category: error.category, httpStatus: error.status.value, message: error.message })
    : new StatusError({ category: error.category, message: error.message })

/** The first status: `initializing` since `now`. */
export const initial = (now: number): DataStatus => new DataStatus({ state: "initializing", since: now })

const sameError = (a: StatusError | undefined, b: StatusError | undefined): boolean =>
  a === b ||
  (a !== undefined &&
    b !== undefined &&
    a.category === b.category &&
    a.httpStatus === b.httpStatus &&
    a.message === b.message)

/** True when two statuses say the same thing (their `since` aside). */
export const same = (a: DataStatus, b: DataStatus): boolean =>
  a.state === b.state && a.offlineDetail === b.offlineDetail && sameError(a.error, b.error)

const proposed = (previous: DataStatus, candidate: Candidate, now: number): DataStatus => {
  const since = (state: State) => (state === previous.state ? previous.since : now)
  switch (candidate.state) {
    case "valid":
      return new DataStatus({ state: "valid", since: since("valid") })
    case "interrupted":
      return previous.state === "initializing"
        ? new DataStatus({ state: "initializing", error: candidate.error, since: previous.since })
        : new DataStatus({ state: "interrupted", error: candidate.error, since: since("interrupted") })
    case "offline":
      return new DataStatus({
        state: "offline",
        offlineDetail: candidate.detail,
        since: since("offline")
      })
    case "shutdown":
      return new DataStatus({ state: "shutdown", error: candidate.error, since: since("shutdown") })
    case "closed":
      return new DataStatus({ state: "closed", since: since("closed") })
  }
}

/**
 * The status to emit after `previous` when `candidate` is reported at `now`, or `undefined`
 * when nothing should be emitted (identical status, or `previous` is `closed`).
 */
export const sanitize = (previous: DataStatus, candidate: Candidate, now: number): DataStatus | undefined => {
  if (previous.state === "closed") return undefined
  const next = proposed(previous, candidate, now)
  return same(previous, next) ? undefined : next
}

/** A data status holder: the core `Status` (readable, streamable, served as JSON) behind the sanitizing rules. */
export interface DataStatusHolder {
  /** The status; `changes` emits each sanitized status once. */
  readonly status: Status.Status<DataStatus, typeof DataStatus.Encoded>
  /** Proposes a status; it is sanitized and emitted only when it says something new. */
  readonly report: (candidate: Candidate) => Effect.Effect<void>
}

/** A holder starting at `initializing`. Reports are serialized, so sanitizing always sees the latest status. */
export const make: Effect.Effect<DataStatusHolder> = Effect.gen(function* () {
  const status = yield* Status.make(DataStatus, initial(yield* Clock.currentTimeMillis))
  const lock = yield* Effect.makeSemaphore(1)
  const report = (candidate: Candidate) =>
    lock.withPermits(1)(
      Effect.gen(function* () {
        const next = sanitize(yield* status.get, candidate, yield* Clock.currentTimeMillis)
        if (next !== undefined) yield* status.set(next)
      })
    )
  return { status, report }
})
