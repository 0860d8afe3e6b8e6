/**
 * What `serve-fdv2` has seen, for tests and people: connections and polls (open now, most at once,
 * in all) and the `basis` of recent requests. Served at `GET /admin/stats`.
 */
import { Effect, Ref, Schema } from "effect"

/** One request to an `/sdk/*` endpoint and the basis it sent (`null` when it sent none). */
export const RequestRecord = Schema.Struct({
  endpoint: Schema.Literal("stream", "poll", "fdv1"),
  basis: Schema.NullOr(Schema.String)
})

/** The type of `RequestRecord`. */
export type RequestRecord = typeof RequestRecord.Type

/** Counters and the last `recentLimit` requests. */
export const Stats = Schema.Struct({
  streamsOpen: Schema.Number,
  streamsMaxOpen: Schema.Number,
  streamConnects: Schema.Number,
  pollsInFlight: Schema.Number,
  pollsMaxInFlight: Schema.Number,
  polls: Schema.Number,
  fdv1Polls: Schema.Number,
  recentRequests: Schema.Array(RequestRecord)
})

/** The type of `Stats`. */
export type Stats = typeof Stats.Type

/** How many recent requests are kept. */
export const recentLimit = 200

/** The mutable counters of one server. */
export interface ServerStats {
  readonly get: Effect.Effect<Stats>
  /** Counts a request and returns an effect that marks it finished (for in-flight counts). */
  readonly begin: (request: RequestRecord) => Effect.Effect<Effect.Effect<void>>
}

const initial: Stats = {
  streamsOpen: 0,
  streamsMaxOpen: 0,
  streamConnects: 0,
  pollsInFlight: 0,
  pollsMaxInFlight: 0,
  polls: 0,
  fdv1Polls: 0,
  recentRequests: []
}

/** Creates empty stats. */
export const make: Effect.Effect<ServerStats> = Effect.map(Ref.make(initial), (state) => ({
  get: Ref.get(state),
  begin: (request) =>
    Ref.update(state, (s) => {
      const recentRequests = [...s.recentRequests, request].slice(-recentLimit)
      switch (request.endpoint) {
        case "stream":
          return {
            ...s,
            recentRequests,
            streamConnects: s.streamConnects + 1,
            streamsOpen: s.streamsOpen + 1,
            streamsMaxOpen: Math.max(s.streamsMaxOpen, s.streamsOpen + 1)
          }
        case "poll":
          return {
            ...s,
            recentRequests,
            polls: s.polls + 1,
            pollsInFlight: s.pollsInFlight + 1,
            pollsMaxInFlight: Math.max(s.pollsMaxInFlight, s.pollsInFlight + 1)
          }
        case "fdv1":
          return { ...s, recentRequests, fdv1Polls: s.fdv1Polls + 1 }
      }
    }).pipe(
      Effect.as(
        Ref.update(state, (s) =>
          request.endpoint === "stream"
            ? { ...s, streamsOpen: s.streamsOpen - 1 }
            : request.endpoint === "poll"
              ? { ...s, pollsInFlight: s.pollsInFlight - 1 }
              : s
        )
      )
    )
}))
