/**
 * Response faults `serve-fdv2` injects on its `/sdk/*` endpoints: an HTTP status for the next N
 * requests, the FDv1 fallback header for the next N responses, an invalid body for the next N
 * polls, and a fixed latency before every response. Stream-wide faults (goodbye, error event,
 * dropped connection, invalid event) go through `FlagData.broadcast` instead.
 */
import { Effect, Option, Ref } from "effect"

/** What the next response must carry. */
export interface ResponseFaults {
  /** Answer with this status (and no payload) instead. */
  readonly status: Option.Option<number>
  /** Add `x-ld-fd-fallback: true`; `Some(ttl)` also adds `x-ld-fd-fallback-ttl`. */
  readonly fallbackHeader: Option.Option<Option.Option<number>>
  /** Send an invalid polling body (polls only). */
  readonly invalidBody: boolean
  /** Wait this long before answering. */
  readonly latencyMillis: number
}

interface State {
  readonly status: { readonly status: number; readonly remaining: number } | undefined
  readonly fallback: { readonly ttlSeconds: Option.Option<number>; readonly remaining: number } | undefined
  readonly invalidPolls: number
  readonly latencyMillis: number
}

/** The fault settings of one server. */
export interface Faults {
  /** The next `count` requests answer `status`. */
  readonly failWith: (status: number, count: number) => Effect.Effect<void>
  /** The next `count` responses carry the fallback header, with `ttlSeconds` when given. */
  readonly fallbackHeader: (ttlSeconds: Option.Option<number>, count: number) => Effect.Effect<void>
  /** The next `count` polls answer an invalid body. */
  readonly invalidPolls: (count: number) => Effect.Effect<void>
  /** Every response waits `millis` first (0 turns it off). */
  readonly latency: (millis: number) => Effect.Effect<void>
  /** Clears every response fault. */
  readonly clear: Effect.Effect<void>
  /** Takes the faults for one response of kind `endpoint`, counting it against their budgets. */
  readonly take: (endpoint: "stream" | "poll" | "fdv1") => Effect.Effect<ResponseFaults>
}

const none: State = { status: undefined, fallback: undefined, invalidPolls: 0, latencyMillis: 0 }

/** Creates fault settings with no fault active. */
export const make: Effect.Effect<Faults> = Effect.map(Ref.make(none), (state) => ({
  failWith: (status, count) =>
    Ref.update(state, (s) => ({ ...s, status: count > 0 ? { status, remaining: count } : undefined })),
  fallbackHeader: (ttlSeconds, count) =>
    Ref.update(state, (s) => ({ ...s, fallback: count > 0 ? { ttlSeconds, remaining: count } : undefined })),
  invalidPolls: (count) => Ref.update(state, (s) => ({ ...s, invalidPolls: Math.max(0, count) })),
  latency: (millis) => Ref.update(state, (s) => ({ ...s, latencyMillis: Math.max(0, millis) })),
  clear: Ref.set(state, none),
  take: (endpoint) =>
    Ref.modify(state, (s): [ResponseFaults, State] => {
      if (s.status !== undefined) {
        const remaining = s.status.remaining - 1
        return [
          {
            status: Option.some(s.status.status),
            fallbackHeader: Option.none(),
            invalidBody: false,
            latencyMillis: s.latencyMillis
          },
          { ...s, status: remaining > 0 ? { ...s.status, remaining } : undefined }
        ]
      }
      const fallbackRemaining = (s.fallback?.remaining ?? 0) - 1
      const invalid = endpoint === "poll" && s.invalidPolls > 0
      return [
        {
          status: Option.none(),
          fallbackHeader: s.fallback === undefined ? Option.none() : Option.some(s.fallback.ttlSeconds),
          invalidBody: invalid,
          latencyMillis: s.latencyMillis
        },
        {
          ...s,
          fallback:
            s.fallback !== undefined && fallbackRemaining > 0
              ? { ...s.fallback, remaining: fallbackRemaining }
              : undefined,
          invalidPolls: invalid ? s.invalidPolls - 1 : s.invalidPolls
        }
      ]
    })
}))
