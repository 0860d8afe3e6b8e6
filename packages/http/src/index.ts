/** A binary's `runMain`: graceful shutdown on SIGINT / SIGTERM that survives duplicated signals. */
export * as NodeMain from "./NodeMain.js"
/** Every Effect metric of the process as Prometheus text, through the OpenTelemetry exporter. */
export * as PrometheusMetrics from "./PrometheusMetrics.js"
/** The status server: `/healthz`, `/readyz`, `/status` and Prometheus `/metrics`, with its bound URL. */
export * as StatusServer from "./StatusServer.js"
/** OTLP/HTTP export of Effect spans, switched on by `OTEL_EXPORTER_OTLP_ENDPOINT`; empty when it is unset. */
export * as Tracing from "./Tracing.js"
