/**
 * Spans for an app's own work, exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
 * and costing nothing when it is not. Controllers add a `converge.reconcile` span per reconcile.
 */
import { Tracing } from "@converge/http"
import { Effect } from "effect"

/** One unit of the app's work, as a span with the order id as an attribute. */
export const shipOrder = (orderId: string) =>
  Effect.logInfo("shipping").pipe(
    Effect.annotateLogs("orderId", orderId),
    Effect.withSpan("orders.ship", { attributes: { orderId } })
  )

/** The app, with tracing provided once at the composition root. */
export const program = Effect.forEach(["order-1", "order-2"], shipOrder, { discard: true }).pipe(
  Effect.provide(Tracing.layer({ serviceName: "orders", serviceVersion: "1.0.0" }))
)
