/**
 * A controller: the loop around a `Reconciler`. It owns a `WorkQueue`, runs up to `concurrency`
 * keys at once while its `LeaderGate` leads, retries failures per key by a `RetryPolicy`, and
 * reports every reconcile through metrics, logs, spans and an optional observer.
 *
 * ```text
 *   enqueue / enqueueAfter ─┐
 *   triggers (Stream<K>) ───┼─▶ WorkQueue ──take──▶ workers × concurrency ──reconcile(key)──▶ Outcome
 *   resync (every N) ───────┘      ▲                  (only while leader)                     │
 *                                  └───── RequeueAfter / retry with backoff ◀─────────────────┘
 * ```
 *
 * Defaults follow controller-runtime: concurrency 1, per-key backoff 5 ms → 1000 s, a global
 * token bucket of 10 retries/s (burst 100) for failed keys only, a 30 s shutdown grace period.
 *
 * Reporting: `converge_reconcile_*`, `converge_active_workers` and `converge_leader` metrics
 * (label `controller`) and `converge_workqueue_*` (label `name`, the controller's name). Every log
 * written inside the controller, the reconcile included, is annotated `controller`; failure logs
 * also carry `key` and `attempt`. Each reconcile runs in a `converge.reconcile` span (attributes
 * `controller`, `key`) when a tracer is installed (e.g. `@effect/opentelemetry`); Effect's
 * built-in tracer exports nothing, so without one no span is made. To see `key` on your own log
 * lines, annotate them inside `reconcile`: the controller does not, because `Effect.annotateLogs`
 * around every reconcile costs more than the rest of its loop.
 */
import {
  type Cause,
  Context,
  Data,
  DefaultServices,
  Duration,
  Effect,
  MetricLabel,
  Option,
  Schedule,
  type Scope,
  Stream,
  Tracer
} from "effect"
import { makeWorker } from "./internal/controllerWorker.js"
import { makeState } from "./internal/workQueue.js"
import { LeaderGate } from "./LeaderGate.js"
import * as Metrics from "./Metrics.js"
import type { Observer } from "./Observer.js"
import type { Outcome } from "./Outcome.js"
import type { Reconciler } from "./Reconciler.js"
import * as RetryPolicy from "./RetryPolicy.js"
import type * as WorkQueue from "./WorkQueue.js"

/** A reconcile ran longer than `reconcileTimeout`; it is retried like any other failure. */
export class ReconcileTimeout extends Data.TaggedError("ReconcileTimeout")<{
  readonly timeout: Duration.Duration
}> {}

/**
 * What a controller reports to its observer. `E` is the reconcile's error type (plus
 * `ReconcileTimeout`); failure events carry the full `Cause` so defects are reported too.
 */
export type ControllerEvent<K, E = unknown> = Data.TaggedEnum<{
  /** A reconcile returned `outcome` after `duration`. */
  ReconcileSucceeded: {
    readonly controller: string
    readonly key: K
    readonly outcome: Outcome
    readonly duration: Duration.Duration
  }
  /** A reconcile failed with a retryable error; `retrying` is `false` once `maxAttempts` are used up. */
  ReconcileFailed: {
    readonly controller: string
    readonly key: K
    readonly cause: Cause.Cause<E>
    readonly attempt: number
    readonly retrying: boolean
    readonly retryIn: Option.Option<Duration.Duration>
  }
  /** A reconcile failed with `Terminal` or a `nonRetryable` error: counted, reported, not retried. */
  ReconcileTerminal: {
    readonly controller: string
    readonly key: K
    readonly cause: Cause.Cause<E>
  }
  /** This process gained (`leader: true`) or lost leadership; also sent once at start with the current state. */
  LeadershipChanged: {
    readonly controller: string
    readonly leader: boolean
  }
}>

/** The generic definition behind `ControllerEvent`, for `Data.taggedEnum`. */
export interface ControllerEventDefinition extends Data.TaggedEnum.WithGenerics<2> {
  readonly taggedEnum: ControllerEvent<this["A"], this["B"]>
}

/** Constructors, guards (`$is`) and an exhaustive matcher (`$match`) for `ControllerEvent`. */
export const ControllerEvent = Data.taggedEnum<ControllerEventDefinition>()

/** Periodic resync: every `every`, enqueue every key `keys` lists (also once at start, unless `atStart` is false). */
export interface Resync<K, R> {
  readonly every: Duration.DurationInput
  readonly keys: Effect.Effect<Iterable<K>, unknown, R>
  /**
   * Also list and enqueue the keys once at start. Default true. Turn it off when something else
   * already enqueues every key at start (a leadership hook, say): the start-up then runs one pass
   * per key, not a second one whenever the two enqueues land apart.
   */
  readonly atStart?: boolean
}

/** Options for `make`. Only `name` and `reconcile` are required. */
export interface Options<K, E, R> {
  /** The controller's name: the `controller` label of its metrics and the `name` of its queue. */
  readonly name: string
  /** The reconcile function, or a `Reconciler`. */
  readonly reconcile: ((key: K) => Effect.Effect<Outcome, E, R>) | Reconciler<K, E, R>
  /** Keys reconciled at once (a positive integer). Default 1. */
  readonly concurrency?: number
  /** Per-key retry of failures, and which error tags are terminal. Default `RetryPolicy.controller` (5 ms → 1000 s). */
  readonly retryPolicy?: RetryPolicy.RetryPolicy
  /** Global token bucket for retries (never for plain adds), or `false`. Default 10/s, burst 100. */
  readonly rateLimit?: WorkQueue.RateLimit | false
  /** Enqueue a listing of keys at start and then periodically. Default none. */
  readonly resync?: Resync<K, R>
  /** Streams whose elements are enqueued as they arrive; a failing trigger is logged and stops. Default none. */
  readonly triggers?: ReadonlyArray<Stream.Stream<K, unknown, R>>
  /** Interrupt a reconcile after this long and retry it (a `ReconcileTimeout`). Default none. */
  readonly reconcileTimeout?: Duration.DurationInput
  /** On scope close, how long in-flight reconciles may run before they are interrupted. Default 30 s. */
  readonly shutdownGracePeriod?: Duration.DurationInput
  /** Receives a `ControllerEvent` for every reconcile and leadership change. Default none. */
  readonly observer?: Observer<ControllerEvent<K, E | ReconcileTimeout>>
}

/** A running controller. It stops when the scope it was made in closes. */
export interface Controller<in K> {
  /** The controller's name. */
  readonly name: string
  /** Queues `key` to run now (after any run of it in progress). */
  readonly enqueue: (key: K) => Effect.Effect<void>
  /** Queues every key of `keys` to run now, in order. */
  readonly enqueueAll: (keys: Iterable<K>) => Effect.Effect<void>
  /** Queues `key` to run after `delay`; an earlier time already queued for it wins. */
  readonly enqueueAfter: (key: K, delay: Duration.DurationInput) => Effect.Effect<void>
  /** Keys waiting (ready or scheduled for later). */
  readonly depth: Effect.Effect<number>
  /** Keys being reconciled right now. */
  readonly inFlight: Effect.Effect<number>
  /**
   * Waits until no key is ready and none is running (a run ends once its observer events and logs
   * are out). Keys scheduled for later (backoff,
   * `RequeueAfter`, `enqueueAfter`) do not count, so with `TestClock`: `awaitIdle`, adjust, `awaitIdle`.
   * While not leader, ready keys wait, so this waits too.
   */
  readonly awaitIdle: Effect.Effect<void>
}

/**
 * Starts a controller: its queue, workers (while leader), triggers and resync run in the scope.
 * Dies with a clear message when `concurrency` is not a positive integer.
 */
export const make = <K, E = never, R = never>(
  options: Options<K, E, R>
): Effect.Effect<Controller<K>, never, R | LeaderGate | Scope.Scope> =>
  Effect.gen(function* () {
    const name = options.name
    const concurrency = options.concurrency ?? 1
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      return yield* Effect.dieMessage(
        `Controller "${name}": concurrency must be a positive integer, got ${concurrency}`
      )
    }
    const reconciler = options.reconcile
    const reconcile = typeof reconciler === "function" ? reconciler : (key: K) => reconciler.reconcile(key)
    const retryPolicy = options.retryPolicy ?? RetryPolicy.controller
    const gracePeriod = Duration.decode(options.shutdownGracePeriod ?? Duration.seconds(30))
    const observer = options.observer
    const gate = yield* LeaderGate
    const clock = yield* Effect.clock
    const queue = yield* makeState<K>({
      name,
      retryPolicy,
      ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit })
    })

    const controllerTags = [MetricLabel.make("controller", name)]

    const timeout =
      options.reconcileTimeout === undefined ? undefined : Duration.decode(options.reconcileTimeout)
    const withTimeout = (
      effect: Effect.Effect<Outcome, E, R>
    ): Effect.Effect<Outcome, E | ReconcileTimeout, R> =>
      timeout === undefined
        ? effect
        : Effect.timeoutFail(effect, {
            duration: timeout,
            onTimeout: () => new ReconcileTimeout({ timeout })
          })

    // Effect's built-in tracer exports nothing, and a span costs more than a no-op reconcile;
    // spans are made only when a real tracer (e.g. OpenTelemetry) is installed.
    const tracing = (yield* Effect.tracer) !== Context.get(DefaultServices.liveServices, Tracer.Tracer)
    const runReconcile = tracing
      ? (key: K): Effect.Effect<Outcome, E | ReconcileTimeout, R> =>
          Effect.withSpan(withTimeout(reconcile(key)), "converge.reconcile", {
            attributes: { controller: name, key },
            captureStackTrace: false
          })
      : (key: K): Effect.Effect<Outcome, E | ReconcileTimeout, R> => withTimeout(reconcile(key))

    // An observer must not fail, but one that dies must not take the workers down with it.
    const notify =
      observer === undefined
        ? (_event: ControllerEvent<K, E | ReconcileTimeout>): Effect.Effect<void> => Effect.void
        : (event: ControllerEvent<K, E | ReconcileTimeout>): Effect.Effect<void> =>
            Effect.catchAllCause(observer.notify(event), (cause) =>
              Effect.logWarning(`observer failed on ${event._tag}`, cause)
            )

    const reportFailure = (
      key: K,
      cause: Cause.Cause<E | ReconcileTimeout>,
      attempt: number,
      retry: { readonly delayMillis: number } | undefined
    ): Effect.Effect<void> => {
      const retryIn = retry === undefined ? Option.none() : Option.some(Duration.millis(retry.delayMillis))
      const log = Option.match(retryIn, {
        onNone: () => Effect.logError(`reconcile failed; giving up after ${attempt} attempts`, cause),
        onSome: (wait) => Effect.logWarning(`reconcile failed; retrying in ${Duration.format(wait)}`, cause)
      })
      const event = ControllerEvent.ReconcileFailed({
        controller: name,
        key,
        cause,
        attempt,
        retrying: retry !== undefined,
        retryIn
      })
      return Effect.zipRight(Effect.annotateLogs(log, { key, attempt }), notify(event))
    }

    const reportTerminal = (key: K, cause: Cause.Cause<E | ReconcileTimeout>): Effect.Effect<void> => {
      const log = Effect.logError("reconcile failed with a terminal error; not retrying", cause)
      const event = ControllerEvent.ReconcileTerminal({ controller: name, key, cause })
      return Effect.zipRight(Effect.annotateLogs(log, { key }), notify(event))
    }

    const worker = makeWorker<K, E | ReconcileTimeout, R>({
      name,
      queue,
      clock,
      reconcile: runReconcile,
      retryPolicy,
      reports: {
        success:
          observer === undefined
            ? undefined
            : (key, outcome, duration) =>
                notify(ControllerEvent.ReconcileSucceeded({ controller: name, key, outcome, duration })),
        failure: reportFailure,
        terminal: reportTerminal
      }
    })

    const workers = Effect.forEach(Array.from({ length: concurrency }), () => worker, {
      concurrency: "unbounded",
      discard: true
    })

    const whileLeaderLoop = Effect.whileLoop({
      while: () => !queue.isShutdown,
      body: () => gate.whileLeader(workers),
      step: () => undefined
    })

    const followLeadership = Stream.runForEach(gate.isLeader.changes, (leader) =>
      Effect.zipRight(
        Effect.sync(() => Metrics.leader.unsafeUpdate(leader ? 1 : 0, controllerTags)),
        notify(ControllerEvent.LeadershipChanged({ controller: name, leader }))
      )
    )

    const enqueueAll = (keys: Iterable<K>) =>
      Effect.sync(() => {
        for (const key of keys) queue.add(key, 0)
      })

    const background: Array<Effect.Effect<void, never, R>> = [followLeadership]
    for (const [index, trigger] of (options.triggers ?? []).entries()) {
      background.push(
        Stream.runForEachChunk(trigger, enqueueAll).pipe(
          Effect.catchAllCause((cause) =>
            Effect.logError(`trigger ${index} failed; it no longer enqueues keys`, cause)
          )
        )
      )
    }
    if (options.resync !== undefined) {
      const { keys: listKeys, every, atStart = true } = options.resync
      const resyncOnce = Effect.flatMap(listKeys, enqueueAll).pipe(
        Effect.catchAllCause((cause) => Effect.logError("resync failed to list keys", cause))
      )
      background.push(
        atStart
          ? Effect.asVoid(Effect.repeat(resyncOnce, Schedule.spaced(every)))
          : Effect.asVoid(Effect.schedule(resyncOnce, Schedule.spaced(every)))
      )
    }
    for (const effect of background) {
      yield* Effect.forkScoped(Effect.annotateLogs(effect, "controller", name))
    }
    yield* Effect.forkScoped(Effect.annotateLogs(whileLeaderLoop, "controller", name))

    // Runs before the fibers above are interrupted (finalizers run in reverse order). Finalizers are
    // uninterruptible, so the wait is made interruptible for the timeout to be able to cut it short.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => queue.shutdown()).pipe(
        Effect.zipRight(Effect.timeoutOption(Effect.interruptible(queue.awaitIdle), gracePeriod)),
        Effect.tap((finished) =>
          Option.isNone(finished)
            ? Effect.logWarning(
                `shutdown grace period of ${Duration.format(gracePeriod)} elapsed; interrupting ${queue.inFlight} reconciles`
              )
            : Effect.void
        ),
        Effect.annotateLogs("controller", name)
      )
    )

    return {
      name,
      enqueue: (key) => Effect.sync(() => queue.add(key, 0)),
      enqueueAll,
      enqueueAfter: (key, delay) => Effect.sync(() => queue.add(key, Duration.toMillis(delay))),
      depth: Effect.sync(() => queue.depth),
      inFlight: Effect.sync(() => queue.inFlight),
      awaitIdle: queue.awaitIdle
    }
  })
