/**
 * A controller with its status server: `/status` shows what the controller did, `/readyz` says
 * ready once the first orders are through, `/metrics` has the standard metrics.
 */
import { Controller, LeaderGate, Observer, Outcome, Status } from "@converge/core"
import { StatusServer } from "@converge/http"
import { Context, Effect, Layer, Schema } from "effect"

/** What `/status` answers. */
export const OrdersStatus = Schema.Struct({
  startedAt: Schema.Date,
  reconciled: Schema.Number,
  failed: Schema.Number
})

const countEvent = (
  status: typeof OrdersStatus.Type,
  event: Controller.ControllerEvent<string, unknown>
): typeof OrdersStatus.Type =>
  event._tag === "ReconcileSucceeded"
    ? { ...status, reconciled: status.reconciled + 1 }
    : event._tag === "ReconcileFailed" || event._tag === "ReconcileTerminal"
      ? { ...status, failed: status.failed + 1 }
      : status

/**
 * Starts the controller and the status server in the current scope and returns the server's URL.
 * `port` 0 picks a free port; without it, `CONVERGE_HTTP_PORT` is used (else a free port).
 */
export const start = (port?: number) =>
  Effect.gen(function* () {
    const status = yield* Status.make(OrdersStatus, { startedAt: new Date(), reconciled: 0, failed: 0 })
    const orders = yield* Controller.make({
      name: "orders",
      reconcile: (_orderId: string) => Effect.succeed(Outcome.done),
      observer: Observer.statusObserver(status, countEvent)
    })
    yield* orders.enqueueAll(["order-1", "order-2", "order-3"])

    const server = StatusServer.layer({
      port,
      status,
      ready: Effect.map(status.get, (current) => current.reconciled > 0)
    })
    const context = yield* Layer.build(server)
    const { url } = Context.get(context, StatusServer.StatusServer)
    yield* Effect.logInfo(`orders: status at ${url}/status`)
    return url
  }).pipe(Effect.provide(LeaderGate.always))
