/**
 * The push dispatcher: LISTENs on the completion-event channel and dispatches each event as its
 * NOTIFY arrives, so a downstream becomes runnable milliseconds after its upstream's commit.
 *
 * ```text
 *   INSERT completion event ─▶ trigger NOTIFY(id) ─▶ Notifications.listen ─┬─ Notification(id) ─▶ Dispatch.dispatch(id)
 *                                                                          └─ Resubscribed ─────▶ replay every pending event, in id order
 * ```
 *
 * Postgres drops notifications sent while a listener is away, so every (re)subscription, the
 * first one at start included, replays all pending events. Several replicas may run on one
 * database: each edge is applied exactly once whoever dispatches it. At most `concurrency`
 * dispatches run at once. A failed dispatch is logged and counted; the event keeps its attempts
 * and last error and is left to the next replay or the stale sweeper; the dispatcher goes on.
 */
import { Notifications } from "@converge/pg"
import { SqlClient, type SqlError } from "@effect/sql"
import { Cause, Effect, Layer, Metric, type Scope, Stream } from "effect"
import * as DepsMetrics from "./DepsMetrics.js"
import * as Dispatch from "./Dispatch.js"
import * as Schema from "./Schema.js"

/** The push dispatcher's options; every field has a default. */
export interface Options {
  /** Most dispatches running at once (notifications and replay each). Default 8. */
  readonly concurrency?: number | undefined
  /** Pending events read per page when replaying. Default 1000. */
  readonly replayPageSize?: number | undefined
  /** Options of each dispatch (contention retry). */
  readonly dispatch?: Dispatch.Options | undefined
  /** Status whose `dispatcher` / `subscriptions` fields follow the subscription. */
  readonly status?: DepsMetrics.EngineStatusHandle | undefined
}

const defaultConcurrency = 8
const defaultReplayPageSize = 1000

// The trigger sends the event id, a bigint in decimal.
const isEventId = (payload: string): boolean => /^[0-9]{1,19}$/.test(payload)

/**
 * Dispatches one event; never fails: an error is logged and counted (`path="push"`) and the
 * event stays pending for a replay or the sweeper. Interruption still interrupts.
 */
export const dispatchEvent = (
  eventId: string,
  options: Options = {}
): Effect.Effect<void, never, SqlClient.SqlClient> =>
  Dispatch.dispatch(eventId, options.dispatch ?? {}).pipe(
    Effect.flatMap((result) =>
      result._tag === "Dispatched"
        ? Metric.increment(Metric.tagged(DepsMetrics.eventsDispatchedTotal, "path", "push"))
        : Effect.void
    ),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.interrupt
        : Effect.zipRight(
            Metric.increment(Metric.tagged(DepsMetrics.dispatchErrorsTotal, "path", "push")),
            Effect.logWarning("push dispatch failed; the event stays pending", cause).pipe(
              Effect.annotateLogs("eventId", eventId)
            )
          )
    )
  )

/**
 * Dispatches every pending event in id order (pages of `replayPageSize`, up to `concurrency` at
 * once), including events written while it runs; returns how many it dispatched or found done.
 */
export const replayPending = (
  options: Options = {}
): Effect.Effect<number, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const pageSize = options.replayPageSize ?? defaultReplayPageSize
    let after = "0"
    let replayed = 0
    for (;;) {
      const page = yield* sql<{ readonly id: string }>`
        SELECT id::text AS id FROM deps_completion_events
        WHERE dispatched_at IS NULL AND id > ${after}
        ORDER BY deps_completion_events.id LIMIT ${pageSize}`
      yield* Effect.forEach(page, (row) => dispatchEvent(row.id, options), {
        concurrency: options.concurrency ?? defaultConcurrency,
        discard: true
      })
      replayed += page.length
      const last = page[page.length - 1]
      if (last === undefined || page.length < pageSize) return replayed
      after = last.id
    }
  })

const onResubscribed = (event: Notifications.Resubscribed, options: Options) =>
  Effect.gen(function* () {
    if (options.status !== undefined) yield* DepsMetrics.recordSubscribed(options.status, event.subscription)
    const replayed = yield* replayPending(options)
    yield* Effect.logDebug("push dispatcher subscribed; pending events replayed").pipe(
      Effect.annotateLogs({ subscription: event.subscription, replayed })
    )
  }).pipe(
    Effect.catchAll((error) =>
      Effect.logWarning("replaying pending events failed; the sweeper will take them", error)
    )
  )

const onEvent = (
  event: Notifications.Event,
  options: Options
): Effect.Effect<void, never, SqlClient.SqlClient> =>
  event._tag === "Resubscribed"
    ? onResubscribed(event, options)
    : isEventId(event.payload)
      ? dispatchEvent(event.payload, options)
      : Effect.logWarning("ignoring a notification that is not an event id").pipe(
          Effect.annotateLogs("payload", event.payload)
        )

/**
 * The dispatcher loop: runs until interrupted and never fails (the LISTEN stream reconnects by
 * itself and every failure is handled per event).
 */
export const loop = (
  options: Options = {}
): Effect.Effect<void, never, Notifications.Notifications | SqlClient.SqlClient> =>
  Notifications.listen(Schema.notificationChannel).pipe(
    Stream.mapEffect((event) => onEvent(event, options), {
      concurrency: options.concurrency ?? defaultConcurrency,
      unordered: true
    }),
    Stream.runDrain
  )

/** Starts the dispatcher loop on a fiber for the rest of the scope. */
export const run = (
  options: Options = {}
): Effect.Effect<void, never, Scope.Scope | Notifications.Notifications | SqlClient.SqlClient> =>
  Effect.asVoid(Effect.forkScoped(loop(options)))

/** The dispatcher loop as a layer. */
export const layer = (
  options: Options = {}
): Layer.Layer<never, never, Notifications.Notifications | SqlClient.SqlClient> =>
  Layer.scopedDiscard(run(options))
