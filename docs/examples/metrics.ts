/**
 * The standard metrics a controller records, an app metric next to them, and both read back:
 * as a value in code and as the Prometheus text `/metrics` serves.
 */
import { Controller, LeaderGate, Metrics, Observer, Outcome } from "@converge/core"
import { PrometheusMetrics } from "@converge/http"
import { Effect, Metric } from "effect"

/** An app metric: invoices sent, labelled by currency. */
export const invoicesSentTotal = Metric.counter("invoices_sent_total", {
  description: "Invoices sent to customers",
  incremental: true
})

const currencyOf = (invoice: string) => (invoice.endsWith("-eur") ? "EUR" : "USD")

/** Sends three invoices through a controller, then reads the metrics back. */
export const program = Effect.gen(function* () {
  const controller = yield* Controller.make({
    name: "invoices",
    reconcile: (_invoice: string) => Effect.succeed(Outcome.done),
    // Count app-level facts from the controller's events.
    observer: Observer.metricsObserver((event: Controller.ControllerEvent<string, unknown>) =>
      event._tag === "ReconcileSucceeded"
        ? Metric.increment(Metric.tagged(invoicesSentTotal, "currency", currencyOf(event.key)))
        : Effect.void
    )
  })
  yield* controller.enqueueAll(["inv-1-eur", "inv-2-usd", "inv-3-eur"])
  yield* controller.awaitIdle

  // In code: a standard metric is tagged with its controller (and result) like any Effect metric.
  const succeeded = yield* Metric.value(
    Metrics.reconcileTotal.pipe(Metric.tagged("controller", "invoices"), Metric.tagged("result", "success"))
  )
  // As Prometheus text: what the status server's /metrics answers.
  const exposition = yield* Effect.flatMap(PrometheusMetrics.PrometheusMetrics, (metrics) => metrics.scrape)
  return { succeeded: succeeded.count, exposition }
}).pipe(Effect.scoped, Effect.provide([LeaderGate.always, PrometheusMetrics.layer]))
