/**
 * Tidies the metrics `@effect/opentelemetry` collects from Effect's registry before they are
 * serialized as Prometheus text, and the text after.
 */
import { DataPointType, type MetricData, type ResourceMetrics } from "@opentelemetry/sdk-metrics"

/** The unit the bridge gives every metric that has no `unit` / `time_unit` tag. */
const dimensionlessUnit = "1"

/** Significant digits that keep every real boundary and drop float noise (0.09999999999999999 → 0.1). */
const boundaryPrecision = 15

/**
 * Drops the bridge's placeholder unit (so no `# UNIT name 1` comment is printed) and rounds
 * histogram boundaries computed by repeated multiplication, so `le` labels read `0.1`, not
 * `0.09999999999999999`, and dashboards can match them.
 */
export const tidy = (resourceMetrics: ResourceMetrics): ResourceMetrics => ({
  ...resourceMetrics,
  scopeMetrics: resourceMetrics.scopeMetrics.map((scopeMetrics) => ({
    ...scopeMetrics,
    metrics: scopeMetrics.metrics.map(tidyMetric)
  }))
})

const tidyMetric = (metric: MetricData): MetricData => {
  const descriptor =
    metric.descriptor.unit === dimensionlessUnit ? { ...metric.descriptor, unit: "" } : metric.descriptor
  if (metric.dataPointType !== DataPointType.HISTOGRAM) {
    return { ...metric, descriptor }
  }
  return {
    ...metric,
    descriptor,
    dataPoints: metric.dataPoints.map((dataPoint) => ({
      ...dataPoint,
      value: {
        ...dataPoint.value,
        buckets: {
          ...dataPoint.value.buckets,
          boundaries: dataPoint.value.buckets.boundaries.map(roundBoundary)
        }
      }
    }))
  }
}

/** Prometheus text must end with a line feed; the serializer leaves it off when there are no metrics. */
export const endWithNewline = (text: string): string => (text.endsWith("\n") ? text : `${text}\n`)

const roundBoundary = (boundary: number): number => Number(boundary.toPrecision(boundaryPrecision))
