/**
 * The data system: a flag store kept current by the orchestrator in the current connection mode.
 *
 * ```text
 *   switchMode(resolution) ──▶ FiberHandle ──▶ Orchestrator.run(sources of the mode) ──apply──▶ store (SubscriptionRef)
 *                                                              │ report                       └──▶ applied (PubSub)
 *                                                              ▼
 *                                                DataStatus (sanitized core Status)
 * ```
 *
 * One orchestrator runs at a time; a mode switch interrupts it (its scope releases every
 * connection) and starts the new mode's. The selector lives in the store, so it survives mode
 * switches; `identify` clears it. Initialization is signalled at most once per identity;
 * `waitForInitialization` fails when every source is exhausted before any data.
 */

import type { Status } from "@converge/core"
import { Observer } from "@converge/core"
import {
  Data,
  Deferred,
  Effect,
  Equal,
  FiberHandle,
  LogLevel,
  Metric,
  Option,
  PubSub,
  type Queue,
  Ref,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import type * as ChangeSet from "./ChangeSet.js"
import type * as ConnectionMode from "./ConnectionMode.js"
import * as DataStatus from "./DataStatus.js"
import type * as ModeResolution from "./ModeResolution.js"
import * as Orchestrator from "./Orchestrator.js"
import * as Selector from "./Selector.js"
import * as Store from "./Store.js"

/** `converge_flags_change_sets_applied_total{source, type}`: change sets applied to the store, by source and `full` / `partial`. */
export const changeSetsApplied = Metric.counter("converge_flags_change_sets_applied_total", {
  description: "FDv2 change sets applied to the flag store, by source and type"
})

/** Every source was exhausted before any data arrived, so the data system cannot initialize. */
export class DataSystemHaltedError extends Data.TaggedError("DataSystemHaltedError")<{
  readonly message: string
}> {}

/** A change set as applied to the store: the updates that took effect and the selector after it. */
export interface AppliedChangeSet {
  readonly changeSet: ChangeSet.ChangeSet
  readonly applied: ReadonlyArray<ChangeSet.Update>
  readonly selector: Selector.Selector
  readonly origin: Orchestrator.Origin
}

/** How to build a data system. */
export interface Options {
  /** The sources of each mode, e.g. `ConnectionMode.sourcesFor(ConnectionMode.defaultTable(), factory)`. */
  readonly sources: (mode: ConnectionMode.Mode) => Effect.Effect<Orchestrator.Sources>
  /** The mode to start in (see `ModeSignals.initialResolution`). */
  readonly initialMode: ModeResolution.Resolution
  /** Orchestration timing. */
  readonly orchestrator?: Partial<Orchestrator.Options>
  /** Told about every orchestration decision; logged at debug level by default. */
  readonly observer?: Observer.Observer<Orchestrator.Event>
}

/** A running data system. */
export interface DataSystem {
  /** The store now. */
  readonly store: Effect.Effect<Store.Store>
  /** The store now, then after every change. */
  readonly storeChanges: Stream.Stream<Store.Store>
  /** Every change set applied from the moment the stream is run. A subscriber lagging 1024 change sets behind loses the oldest. */
  readonly applied: Stream.Stream<AppliedChangeSet>
  /** Subscribes now (for the scope's lifetime) to every change set applied from now on; same lag rule as `applied`. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<AppliedChangeSet>, never, Scope.Scope>
  /** The sanitized status. */
  readonly status: Status.Status<DataStatus.DataStatus, typeof DataStatus.DataStatus.Encoded>
  /** Where the data held came from last (an initializer such as the cache, or a synchronizer). */
  readonly lastOrigin: Effect.Effect<Option.Option<Orchestrator.Origin>>
  /** Whether the current identity is initialized. */
  readonly isInitialized: Effect.Effect<boolean>
  /** Waits until initialized; fails when every source is exhausted before any data. */
  readonly waitForInitialization: Effect.Effect<void, DataSystemHaltedError>
  /** The mode running now. */
  readonly mode: Effect.Effect<ModeResolution.Resolution>
  /** The mode running now, then every switch. */
  readonly modeChanges: Stream.Stream<ModeResolution.Resolution>
  /** Switches to `resolution`; a no-op when it is the mode running now. */
  readonly switchMode: (resolution: ModeResolution.Resolution) => Effect.Effect<void>
  /** A context change: clears the selector, reruns the current mode from its initializers, waits for initialization. */
  readonly identify: Effect.Effect<void, DataSystemHaltedError>
  /** Whether the network is available, as last told (passed on at once, not debounced). */
  readonly networkAvailable: Effect.Effect<boolean>
  /** Records network availability at once. */
  readonly setNetworkAvailable: (available: boolean) => Effect.Effect<void>
  /** Stops the orchestrator and reports `closed`; closing the scope does the same. */
  readonly close: Effect.Effect<void>
}

/** Starts a data system in `options.initialMode`, living in the current scope. */
export const make = (options: Options): Effect.Effect<DataSystem, never, Scope.Scope> =>
  Effect.gen(function* () {
    const observer = options.observer ?? Observer.logObserver<Orchestrator.Event>({ level: LogLevel.Debug })
    const store = yield* SubscriptionRef.make(Store.empty)
    const appliedHub = yield* PubSub.sliding<AppliedChangeSet>(1024)
    const holder = yield* DataStatus.make
    const hasData = yield* Ref.make(false)
    const lastOrigin = yield* Ref.make(Option.none<Orchestrator.Origin>())
    const initialization = yield* Ref.make(yield* Deferred.make<void, DataSystemHaltedError>())
    const mode = yield* SubscriptionRef.make(options.initialMode)
    const network = yield* Ref.make(true)
    const running = yield* FiberHandle.make<void>()
    const lock = yield* Effect.makeSemaphore(1)
    const closed = yield* Ref.make(false)

    const sink: Orchestrator.Sink = {
      selector: Effect.map(SubscriptionRef.get(store), (held) => held.selector),
      apply: (changeSet, origin) =>
        Effect.gen(function* () {
          if (changeSet._tag === "None") return
          const result = yield* SubscriptionRef.modify(store, (held) => {
            const applied = Store.apply(held, changeSet)
            return [applied, applied.store]
          })
          yield* Metric.increment(
            Metric.tagged(
              Metric.tagged(changeSetsApplied, "source", origin.name),
              "type",
              changeSet._tag === "Full" ? "full" : "partial"
            )
          )
          yield* Ref.set(hasData, true)
          yield* Ref.set(lastOrigin, Option.some(origin))
          yield* PubSub.publish(appliedHub, {
            changeSet,
            applied: result.applied,
            selector: result.store.selector,
            origin
          })
        }),
      report: holder.report,
      initialized: Effect.flatMap(Ref.get(initialization), (deferred) =>
        Deferred.succeed(deferred, undefined)
      ),
      hasData: Ref.get(hasData),
      halt: (error) =>
        holder.report({ state: "shutdown", error }).pipe(
          Effect.zipRight(Ref.get(initialization)),
          Effect.flatMap((deferred) =>
            Deferred.fail(deferred, new DataSystemHaltedError({ message: error.message }))
          ),
          Effect.zipRight(Effect.logError(`Data system halted: ${error.message}`))
        )
    }

    const start = (resolution: ModeResolution.Resolution) =>
      Effect.gen(function* () {
        if (Option.isSome(resolution.offlineDetail))
          yield* holder.report({ state: "offline", detail: resolution.offlineDetail.value })
        // The old mode's run ends (its connections closed) before the new one starts.
        yield* FiberHandle.clear(running)
        const sources = yield* options.sources(resolution.mode)
        yield* FiberHandle.run(
          running,
          Orchestrator.run(sources, sink, {
            observer,
            offline: resolution.mode === "offline",
            ...(options.orchestrator === undefined ? {} : { options: options.orchestrator })
          })
        )
      })

    const guarded = <A, E>(effect: Effect.Effect<A, E>) =>
      lock.withPermits(1)(Effect.flatMap(Ref.get(closed), (isClosed) => (isClosed ? Effect.void : effect)))

    const close = lock.withPermits(1)(
      Effect.gen(function* () {
        if (yield* Ref.getAndSet(closed, true)) return
        yield* FiberHandle.clear(running)
        yield* holder.report({ state: "closed" })
      })
    )
    yield* Effect.addFinalizer(() => close)
    yield* start(options.initialMode)

    return {
      store: SubscriptionRef.get(store),
      storeChanges: store.changes,
      applied: Stream.fromPubSub(appliedHub),
      subscribe: PubSub.subscribe(appliedHub),
      status: holder.status,
      lastOrigin: Ref.get(lastOrigin),
      isInitialized: Ref.get(initialization).pipe(
        Effect.flatMap(Deferred.poll),
        Effect.flatMap(
          Option.match({
            onNone: () => Effect.succeed(false),
            onSome: (settled) => Effect.isSuccess(settled)
          })
        )
      ),
      waitForInitialization: Effect.flatMap(Ref.get(initialization), Deferred.await),
      mode: SubscriptionRef.get(mode),
      modeChanges: mode.changes,
      switchMode: (resolution) =>
        guarded(
          Effect.gen(function* () {
            if (Equal.equals(yield* SubscriptionRef.get(mode), resolution)) return
            yield* SubscriptionRef.set(mode, resolution)
            yield* start(resolution)
          })
        ),
      identify: Effect.flatMap(
        guarded(
          Effect.gen(function* () {
            yield* FiberHandle.clear(running)
            yield* SubscriptionRef.update(store, (held) => ({ ...held, selector: Selector.empty }))
            yield* Ref.set(hasData, false)
            yield* Ref.set(initialization, yield* Deferred.make<void, DataSystemHaltedError>())
            yield* start(yield* SubscriptionRef.get(mode))
          })
        ),
        () => Effect.flatMap(Ref.get(initialization), Deferred.await)
      ),
      networkAvailable: Ref.get(network),
      setNetworkAvailable: (available) => Ref.set(network, available),
      close
    }
  })
