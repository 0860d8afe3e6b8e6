/**
 * A copy pipeline reports typed events; a fan-out hands them to a status, a metric, the log and
 * a webhook that is down. The webhook's failures are logged and change nothing else.
 */
import { FanOut, Observer, Status } from "@converge/core"
import { Data, Effect, LogLevel, Metric, Schema } from "effect"

// #region events
/** What the pipeline reports. */
export type CopyEvent = Data.TaggedEnum<{
  CopyStarted: { readonly table: string }
  BatchCommitted: { readonly table: string; readonly rows: number }
  CopyFinished: { readonly table: string }
}>

/** Constructors and matchers for `CopyEvent`. */
export const CopyEvent = Data.taggedEnum<CopyEvent>()

/** The pipeline: it only knows its observer, not what is behind it. */
export const copyTable = (
  table: string,
  batches: ReadonlyArray<number>,
  observer: Observer.Observer<CopyEvent>
) =>
  Effect.gen(function* () {
    yield* observer.notify(CopyEvent.CopyStarted({ table }))
    for (const rows of batches) {
      yield* observer.notify(CopyEvent.BatchCommitted({ table, rows }))
    }
    yield* observer.notify(CopyEvent.CopyFinished({ table }))
  })
// #endregion events

// #region observers
/** The status the events are folded into. */
export const CopyStatus = Schema.Struct({
  phase: Schema.Literal("idle", "copying", "done"),
  rowsCopied: Schema.Number
})

const foldEvent = (status: typeof CopyStatus.Type, event: CopyEvent): typeof CopyStatus.Type =>
  CopyEvent.$match(event, {
    CopyStarted: () => ({ ...status, phase: "copying" as const }),
    BatchCommitted: ({ rows }) => ({ ...status, rowsCopied: status.rowsCopied + rows }),
    CopyFinished: () => ({ ...status, phase: "done" as const })
  })

/** `copy_rows_total`: rows committed by the copy pipeline. */
export const rowsCopiedTotal = Metric.counter("copy_rows_total", { incremental: true })

/** The webhook this example calls is down: every call fails. */
export class WebhookDown extends Data.TaggedError("WebhookDown")<{ readonly event: string }> {}

/** Wires the observers behind one fan-out and returns it with the status it feeds. */
export const makeObservers = Effect.gen(function* () {
  const status = yield* Status.make(CopyStatus, { phase: "idle", rowsCopied: 0 })
  const observer = yield* FanOut.make<CopyEvent>(
    [
      Observer.statusObserver(status, foldEvent),
      Observer.metricsObserver((event) =>
        event._tag === "BatchCommitted" ? Metric.incrementBy(rowsCopiedTotal, event.rows) : Effect.void
      ),
      Observer.logObserver({ level: LogLevel.Debug }),
      Observer.make((event: CopyEvent) => Effect.fail(new WebhookDown({ event: event._tag })))
    ],
    { name: "copy", bufferSize: 256 }
  )
  return { observer, status }
})
// #endregion observers
