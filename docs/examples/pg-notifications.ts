/**
 * A cache of order statuses that follows the `orders` table through LISTEN / NOTIFY. Postgres
 * drops notifications sent while a listener is away, so on every `Resubscribed` (the first
 * LISTEN included) the cache rereads the whole table, then applies notifications as they come.
 */
import { Notifications } from "@converge/pg"
import { SqlClient } from "@effect/sql"
import { Effect, Schedule, Stream, SubscriptionRef } from "effect"

/** The channel on which order ids are announced. */
export const channel = "order_changed"

// #region notify
/** Changes an order's status and announces it: the notification is sent only if the transaction commits. */
export const setStatus = (id: number, status: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    sql.withTransaction(
      Effect.gen(function* () {
        yield* sql`UPDATE orders SET status = ${status} WHERE id = ${id}`
        yield* Notifications.notify(channel, String(id))
      })
    )
  )
// #endregion notify

// #region follow
/** Order id → status, kept up to date for as long as the scope lives; follow it through `changes`. */
export const makeOrderCache = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const statuses = yield* SubscriptionRef.make<ReadonlyMap<number, string>>(new Map())

  const reloadAll = Effect.flatMap(
    sql<{ id: number; status: string }>`SELECT id, status FROM orders`,
    (rows) => SubscriptionRef.set(statuses, new Map(rows.map((row) => [row.id, row.status])))
  )
  const reloadOne = (id: number) =>
    Effect.flatMap(sql<{ status: string }>`SELECT status FROM orders WHERE id = ${id}`, ([row]) =>
      SubscriptionRef.update(statuses, (current) => {
        const next = new Map(current)
        if (row === undefined) next.delete(id)
        else next.set(id, row.status)
        return next
      })
    )

  const follow = Notifications.listen(channel).pipe(
    Stream.runForEach((event) =>
      event._tag === "Resubscribed" ? reloadAll : reloadOne(Number(event.payload))
    )
  )
  // The stream itself never fails; a failed reload does, and listening again resyncs from scratch.
  yield* follow.pipe(Effect.retry(Schedule.spaced("1 second")), Effect.forkScoped)
  return statuses
})
// #endregion follow
