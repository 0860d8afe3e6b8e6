/**
 * The push dispatcher: LISTENs on the completion-event channel and dispatches pending events as
 * their NOTIFYs arrive, so a downstream becomes runnable milliseconds after its upstream's commit.
 *
 * ```text
 *   INSERT completion event ─▶ trigger NOTIFY(id) ─▶ Notifications.listen ─┬─ Notification ─▶ wake the pump
 *                                                                          └─ Resubscribed ─▶ replay every pending event, in id order
 *   pump: wake ─▶ Dispatch.claimBatch(free slots) ─▶ leased events ─▶ Dispatch.dispatchClaimed each (≤ concurrency at once) ─▶ wake
 * ```
 *
 * A notification only wakes the pump: the pump claims pending events in batches (leases taken
 * with `SKIP LOCKED`), so several replicas woken by the same NOTIFY take disjoint events instead
 * of all dispatching each one, and notifications that arrive while it works coalesce into one
 * more claim. Postgres drops notifications sent while a listener is away, so every
 * (re)subscription, the first one at start included, replays all pending events. Each edge is
 * applied exactly once whoever dispatches it. At most `concurrency` dispatches run at once. A
 * failed dispatch is logged and counted; the event keeps its attempts and last error and is left
 * to the next replay or the stale sweeper (the pump never claims an event that failed before, so
 * a poison event is not retried in a loop); the dispatcher goes on.
 */
import { Notifications } from "@converge/pg"
import { SqlClient, type SqlError } from "@effect/sql"
import { Cause, Effect, FiberSet, Layer, Metric, Queue, Ref, type Scope, Stream } from "effect"
import * as DepsMetrics from "./DepsMetrics.js"
import * as Dispatch from "./Dispatch.js"
import * as GroupLocks from "./GroupLocks.js"
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

// Dispatches an event `claimBatch` handed over; never fails (as `dispatchEvent`).
const dispatchClaimedEvent = (
  event: Dispatch.ClaimedEvent,
  options: Options
): Effect.Effect<void, never, SqlClient.SqlClient> =>
  Dispatch.dispatchClaimed(event, options.dispatch ?? {}).pipe(
    Effect.zipRight(Metric.increment(Metric.tagged(DepsMetrics.eventsDispatchedTotal, "path", "push"))),
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.interrupt
        : Effect.zipRight(
            Metric.increment(Metric.tagged(DepsMetrics.dispatchErrorsTotal, "path", "push")),
            Effect.logWarning("push dispatch failed; the event stays pending", cause).pipe(
              Effect.annotateLogs("eventId", event.id)
            )
          )
    )
  )

/**
 * The pump: each wake-up (a NOTIFY, a finished dispatch, a replay) claims as many pending events
 * as it has free slots (`Dispatch.claimBatch`: leased, `SKIP LOCKED`, so replicas woken by the
 * same NOTIFY split the events instead of racing on them; events without edges left are finished
 * by the claim itself) and dispatches each leased one on its own fiber, until a claim comes back
 * empty. Wake-ups that arrive while it works coalesce into one more round.
 */
const pump = (
  wake: Queue.Queue<void>,
  options: Options
): Effect.Effect<never, never, Scope.Scope | SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const slots = options.concurrency ?? defaultConcurrency
    const inFlight = yield* Ref.make(0)
    const running = yield* FiberSet.make<void, never>()
    const round = Effect.gen(function* () {
      for (;;) {
        const free = slots - (yield* Ref.get(inFlight))
        if (free <= 0) return
        const claimed = yield* Dispatch.claimBatch(free, options.dispatch ?? {})
        if (claimed.length === 0) return
        const finished = claimed.filter((event) => event.status === "finished").length
        if (finished > 0) {
          yield* Metric.incrementBy(
            Metric.tagged(DepsMetrics.eventsDispatchedTotal, "path", "push"),
            finished
          )
        }
        for (const event of claimed) {
          if (event.status !== "leased") continue
          yield* Ref.update(inFlight, (count) => count + 1)
          yield* FiberSet.run(
            running,
            dispatchClaimedEvent(event, options).pipe(
              Effect.ensuring(
                Effect.zipRight(
                  Ref.update(inFlight, (count) => count - 1),
                  Queue.offer(wake, undefined)
                )
              )
            )
          )
        }
      }
    }).pipe(
      Effect.catchAll((error) =>
        Effect.zipRight(
          Metric.increment(Metric.tagged(DepsMetrics.dispatchErrorsTotal, "path", "push")),
          Effect.logWarning(
            "push dispatcher: claiming pending events failed; the sweeper will take them",
            error
          )
        )
      )
    )
    return yield* Effect.forever(Effect.zipRight(Queue.take(wake), round))
  })

const onEvent = (
  event: Notifications.Event,
  wake: Queue.Queue<void>,
  options: Options
): Effect.Effect<void, never, SqlClient.SqlClient> =>
  event._tag === "Resubscribed"
    ? Effect.zipRight(onResubscribed(event, options), Queue.offer(wake, undefined))
    : isEventId(event.payload)
      ? Queue.offer(wake, undefined)
      : Effect.logWarning("ignoring a notification that is not an event id").pipe(
          Effect.annotateLogs("payload", event.payload)
        )

/**
 * The dispatcher loop: runs until interrupted and never fails (the LISTEN stream reconnects by
 * itself and every failure is handled per event). Notifications wake the pump (see `pump`);
 * a (re)subscription replays every pending event first.
 */
export const loop = (
  options: Options = {}
): Effect.Effect<void, never, Notifications.Notifications | SqlClient.SqlClient> =>
  Effect.scoped(
    Effect.gen(function* () {
      const wake = yield* Queue.sliding<void>(1)
      // One hop per group at a time in this process (see GroupLocks), for the pump's dispatches.
      const groupLocks = yield* GroupLocks.make
      const pumped: Options = { ...options, dispatch: { ...options.dispatch, groupLocks } }
      yield* Effect.forkScoped(pump(wake, pumped))
      yield* Notifications.listen(Schema.notificationChannel).pipe(
        Stream.mapEffect((event) => onEvent(event, wake, options)),
        Stream.runDrain
      )
    })
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
