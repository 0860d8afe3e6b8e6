/**
 * Fan-out: one observer that hands each event to many, each behind its own bounded buffer
 * and fiber, so a failing or slow observer never breaks or stalls the pipeline or the others.
 *
 * ```text
 *                    ┌─▶ buffer ─▶ fiber ─▶ status observer
 *   pipeline ─notify─┼─▶ buffer ─▶ fiber ─▶ metrics observer
 *                    └─▶ buffer ─▶ fiber ─▶ slow log shipper   (full buffer: newest events dropped, counted)
 * ```
 *
 * `notify` never waits for an observer: it only offers the event to every buffer. When an
 * observer's buffer is full, the new event is dropped for that observer (a dropping, not a
 * sliding, buffer: the observer keeps receiving the events it had already buffered, in
 * order, and misses the newest ones); each drop counts in `dropped` and in
 * `converge_fanout_dropped_total{fanout, observer}`, and the first drop of a run of drops is
 * logged as a warning. Each observer receives its events in notify order. Events still
 * buffered when the scope closes are not delivered.
 */
import { Effect, Metric, Queue, Ref, type Scope } from "effect"
import { eventTag } from "./internal/events.js"
import type { Observer } from "./Observer.js"

/** `converge_fanout_dropped_total{fanout, observer}`: events dropped because an observer's buffer was full. */
export const droppedTotal = Metric.counter("converge_fanout_dropped_total", {
  description: "Total number of events dropped because an observer's buffer was full",
  incremental: true
})

/** An observer that fans out to others, with per-observer drop counts. */
export interface FanOut<in Event> extends Observer<Event> {
  /** Events dropped so far for each observer, in the order the observers were given. */
  readonly dropped: Effect.Effect<ReadonlyArray<number>>
}

/** The options of `make`. */
export interface Options {
  /** Names the fan-out in logs and in the `fanout` metric label; `fanout` by default. */
  readonly name?: string
  /** Events buffered per observer before new ones are dropped; 1024 by default. */
  readonly bufferSize?: number
}

interface Outlet<Event> {
  readonly buffer: Queue.Queue<Event>
  readonly dropped: Ref.Ref<{ readonly total: number; readonly dropping: boolean }>
  readonly metric: Metric.Metric.Counter<number>
  readonly index: number
}

/**
 * Starts one delivery fiber per observer in the current scope and returns the fan-out. A
 * `bufferSize` that is not a positive integer is a defect naming the bad value.
 */
export const make = <Event>(
  observers: ReadonlyArray<Observer<Event>>,
  options: Options = {}
): Effect.Effect<FanOut<Event>, never, Scope.Scope> =>
  Effect.gen(function* () {
    const name = options.name ?? "fanout"
    const bufferSize = options.bufferSize ?? 1024
    if (!Number.isInteger(bufferSize) || bufferSize < 1) {
      return yield* Effect.dieMessage(
        `FanOut.make(${name}): bufferSize must be a positive integer, got ${bufferSize}`
      )
    }
    const outlets = yield* Effect.forEach(observers, (observer, index) =>
      Effect.gen(function* () {
        const buffer = yield* Queue.dropping<Event>(bufferSize)
        const deliverOne = Effect.flatMap(Queue.take(buffer), (event) =>
          Effect.catchAllCause(observer.notify(event), (cause) =>
            Effect.logError("observer failed; it keeps receiving events", cause).pipe(
              Effect.annotateLogs({ fanout: name, observer: index, event: eventTag(event) })
            )
          )
        )
        yield* Effect.forkScoped(Effect.forever(deliverOne))
        const outlet: Outlet<Event> = {
          buffer,
          dropped: yield* Ref.make({ total: 0, dropping: false }),
          metric: Metric.tagged(Metric.tagged(droppedTotal, "fanout", name), "observer", String(index)),
          index
        }
        return outlet
      })
    )

    const offer = (outlet: Outlet<Event>, event: Event) =>
      Effect.flatMap(Queue.offer(outlet.buffer, event), (accepted) =>
        Effect.flatMap(
          Ref.modify(outlet.dropped, (state) =>
            accepted
              ? [false, { total: state.total, dropping: false }]
              : [!state.dropping, { total: state.total + 1, dropping: true }]
          ),
          (firstDrop) =>
            accepted
              ? Effect.void
              : Effect.zipRight(
                  Metric.increment(outlet.metric),
                  firstDrop
                    ? Effect.logWarning(
                        "observer buffer full; dropping its newest events until it catches up"
                      ).pipe(Effect.annotateLogs({ fanout: name, observer: outlet.index, bufferSize }))
                    : Effect.void
                )
        )
      )

    return {
      notify: (event) => Effect.forEach(outlets, (outlet) => offer(outlet, event), { discard: true }),
      dropped: Effect.forEach(outlets, (outlet) =>
        Effect.map(Ref.get(outlet.dropped), (state) => state.total)
      )
    }
  })
