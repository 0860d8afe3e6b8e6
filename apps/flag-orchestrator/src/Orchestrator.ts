/**
 * The orchestrator: runs the initializer chain, then the synchronizer slots, and decides what
 * each result means for the data system.
 *
 * ```text
 *   initializers (in order) ──selector──▶ synchronizer slots [s0 s1 … fdv1…] (list wraps)
 *     data without selector: applied,          │ one run at a time, each in its own Scope
 *     chain continues                          ▼
 *                                 outcome: advance │ block │ recycle │ recover │ engage FDv1 │ pause
 * ```
 *
 * Rules (see the spec's "Orchestration"):
 * - Initializers are skipped while a selector is held; the first payload with a selector ends the chain.
 *   A chain that ends with data but no selector (the cache) still signals initialized.
 * - FDv1 slots start blocked; engaging FDv1 unblocks them and blocks the rest, one way.
 * - Conditions only with more than one available synchronizer: *fallback* is armed by the first
 *   `Interrupted`, cancelled by any change set, and advances after `fallbackTimeout`; *recovery*
 *   (non-primary slots) returns to the primary after `recoveryTimeout`, timed from the start of
 *   the run (`run-start`) or from the start of an uninterrupted valid window (`valid-window`).
 * - `Terminal` blocks the slot; `Recycle` reruns it after `recycleDelay`; an FDv1 directive with no
 *   FDv1 tier reruns it after the directive's TTL, or pauses for a zero TTL.
 * - Every slot blocked: before any data → one `shutdown` status and `halt`; after data → a warning.
 */
import type { Observer } from "@converge/core"
import { Data, Deferred, Duration, Effect, FiberHandle, Option, Stream } from "effect"
import type * as ChangeSet from "./ChangeSet.js"
import * as DataStatus from "./DataStatus.js"
import * as FallbackDirective from "./FallbackDirective.js"
import * as Selector from "./Selector.js"
import * as Source from "./Source.js"

/** When recovery's timer starts on a non-primary synchronizer. */
export type RecoveryStart =
  /** From the start of the run, valid or not (Flutter's rule). */
  | "run-start"
  /** From the first change set; an interruption cancels it (the server composite's rule). */
  | "valid-window"

/** Orchestration timing. */
export interface Options {
  /** How long after the first interruption (with no change set since) to move to the next synchronizer. Default 120 s. */
  readonly fallbackTimeout: Duration.Duration
  /** How long a non-primary synchronizer runs before returning to the primary. Default 300 s. */
  readonly recoveryTimeout: Duration.Duration
  /** When the recovery timer starts. Default `run-start`. */
  readonly recoveryStart: RecoveryStart
  /** The pause before rerunning a recycled synchronizer. Default 1 s. */
  readonly recycleDelay: Duration.Duration
}

/** The defaults: fallback 120 s, recovery 300 s from the start of the run, recycle 1 s. */
export const defaultOptions: Options = {
  fallbackTimeout: Duration.seconds(120),
  recoveryTimeout: Duration.seconds(300),
  recoveryStart: "run-start",
  recycleDelay: Duration.seconds(1)
}

/** The sources of one mode: initializers in order, then synchronizer slots (FDv2 and FDv1) in order. */
export interface Sources {
  readonly initializers: ReadonlyArray<Source.Initializer>
  readonly synchronizers: ReadonlyArray<Source.Synchronizer>
}

/** Where a change set came from. */
export interface Origin {
  readonly role: "initializer" | "synchronizer"
  readonly name: string
}

/** What the orchestrator needs from the data system it feeds. */
export interface Sink {
  /** The selector held now (the `basis` of the next request). */
  readonly selector: Effect.Effect<Selector.Selector>
  /** Applies a change set, adopting its selector. */
  readonly apply: (changeSet: ChangeSet.ChangeSet, origin: Origin) => Effect.Effect<void>
  /** Proposes a status (the data system sanitizes it). */
  readonly report: (candidate: DataStatus.Candidate) => Effect.Effect<void>
  /** Signals that the data system is initialized; calls after the first are ignored. */
  readonly initialized: Effect.Effect<void>
  /** Whether any data has been applied so far (in this run or an earlier one). */
  readonly hasData: Effect.Effect<boolean>
  /** Every source is exhausted before any data: report `shutdown` and fail pending waits. */
  readonly halt: (error: DataStatus.StatusError) => Effect.Effect<void>
}

/** What the orchestrator did, for observers, logs and tests. */
export type Event = Data.TaggedEnum<{
  InitializersSkipped: { readonly selector: Selector.Selector }
  InitializerFinished: { readonly name: string; readonly result: Source.Result["_tag"] }
  SynchronizerStarted: { readonly name: string; readonly slot: number }
  FallbackFired: { readonly name: string; readonly slot: number }
  RecoveryFired: { readonly name: string; readonly slot: number }
  SlotBlocked: { readonly name: string; readonly slot: number }
  Recycling: { readonly name: string; readonly slot: number; readonly delay: Duration.Duration }
  Fdv1Engaged: { readonly name: string }
  DirectiveIgnored: { readonly name: string }
  Paused: { readonly name: string }
  Exhausted: { readonly afterData: boolean }
}>

/** Constructors, guards and a matcher for `Event`. */
export const Event = Data.taggedEnum<Event>()

/** How one synchronizer run ended. */
type RunOutcome = Data.TaggedEnum<{
  Advance: Record<never, never>
  Block: Record<never, never>
  Recycle: { readonly delay: Duration.Duration }
  Recover: Record<never, never>
  EngageFdv1: Record<never, never>
  Pause: Record<never, never>
}>
const RunOutcome = Data.taggedEnum<RunOutcome>()

interface Slot {
  readonly synchronizer: Source.Synchronizer
  available: boolean
}

const ignoreEvents: Observer.Observer<Event> = { notify: () => Effect.void }

const unexpectedFailure = new Source.SourceError({
  category: "unknown",
  status: Option.none(),
  message: "the data source failed unexpectedly"
})

const recycleError = (reason: Source.RecycleReason): Option.Option<Source.SourceError> => {
  switch (reason) {
    case "goodbye":
      return Option.none()
    case "end-of-stream":
      return Option.some(
        new Source.SourceError({
          category: "network-error",
          status: Option.none(),
          message: "the stream ended unexpectedly"
        })
      )
    case "invalid-data":
      return Option.some(
        new Source.SourceError({
          category: "invalid-data",
          status: Option.none(),
          message: "the server sent data that could not be used"
        })
      )
  }
}

/** Extra settings of one `run`. */
export interface RunSettings {
  /** Timing; defaults fill the gaps. */
  readonly options?: Partial<Options>
  /** Told about each decision. */
  readonly observer?: Observer.Observer<Event>
  /**
   * The offline mode: no synchronizers by design. The initializers run (the cache), the data
   * system is initialized when they end, nothing halts and no status is reported.
   */
  readonly offline?: boolean
}

/**
 * Runs `sources` into `sink`. Returns when every source is exhausted; otherwise runs until
 * interrupted (a mode switch, identify or close interrupts it).
 */
export const run = (sources: Sources, sink: Sink, settings: RunSettings = {}): Effect.Effect<void> =>
  Effect.gen(function* () {
    const options: Options = { ...defaultOptions, ...settings.options }
    const observer = settings.observer ?? ignoreEvents
    const offline = settings.offline === true
    const report = (candidate: DataStatus.Candidate) => (offline ? Effect.void : sink.report(candidate))
    const interrupted = (error: Source.SourceError) =>
      report({ state: "interrupted", error: DataStatus.errorOf(error) })
    let lastError: Option.Option<Source.SourceError> = Option.none()
    let initializedSignalled = false
    const initialized = Effect.suspend(() => {
      if (initializedSignalled) return Effect.void
      initializedSignalled = true
      return sink.initialized
    })
    const noteError = (error: Source.SourceError) =>
      Effect.sync(() => {
        lastError = Option.some(error)
      }).pipe(Effect.zipRight(interrupted(error)))

    if (sources.initializers.length === 0 && sources.synchronizers.length === 0) {
      yield* report({ state: "valid" })
      yield* initialized
      return
    }

    const hasFdv1Tier = sources.synchronizers.some((synchronizer) => synchronizer.protocol === "fdv1")

    // The initializer chain.
    let engageFdv1 = false
    let initializerData = false
    const held = yield* sink.selector
    if (!Selector.isEmpty(held)) {
      yield* observer.notify(Event.InitializersSkipped({ selector: held }))
    } else {
      for (const initializer of sources.initializers) {
        const result = yield* Effect.flatMap(sink.selector, initializer.run).pipe(
          Effect.catchAllDefect(() => Effect.succeed(Source.Result.Interrupted({ error: unexpectedFailure })))
        )
        yield* observer.notify(Event.InitializerFinished({ name: initializer.name, result: result._tag }))
        if (result._tag === "ChangeSet") {
          const changeSet = result.changeSet
          if (changeSet._tag === "None") continue
          yield* sink.apply(changeSet, { role: "initializer", name: initializer.name })
          if (!Selector.isEmpty(changeSet.selector)) {
            yield* report({ state: "valid" })
            yield* initialized
            break
          }
          initializerData = true
        } else if (result._tag === "Interrupted" || result._tag === "Terminal") {
          yield* noteError(result.error)
        } else if (result._tag === "Fdv1Fallback" && hasFdv1Tier) {
          engageFdv1 = true
          break
        }
      }
    }
    if (initializerData || offline) yield* initialized
    if (offline) return
    if (initializerData && sources.synchronizers.length === 0) yield* report({ state: "valid" })

    // The synchronizer slots.
    const slots: Array<Slot> = sources.synchronizers.map((synchronizer) => ({
      synchronizer,
      available: synchronizer.protocol === "fdv2"
    }))
    const engage = () => {
      for (const slot of slots) slot.available = slot.synchronizer.protocol === "fdv1"
    }
    if (engageFdv1) {
      engage()
      yield* observer.notify(Event.Fdv1Engaged({ name: "initializer" }))
    }
    const firstAvailable = (): number | undefined => {
      const index = slots.findIndex((slot) => slot.available)
      return index === -1 ? undefined : index
    }
    const nextAvailable = (after: number): number | undefined => {
      for (let step = 1; step <= slots.length; step++) {
        const index = (after + step) % slots.length
        if (slots[index]?.available === true) return index
      }
      return undefined
    }
    const availableCount = () => slots.filter((slot) => slot.available).length

    const runSlot = (index: number, slot: Slot): Effect.Effect<RunOutcome> =>
      Effect.scoped(
        Effect.gen(function* () {
          const { synchronizer } = slot
          const name = synchronizer.name
          const conditions = availableCount() > 1
          const recoveryApplies = conditions && index !== firstAvailable()
          const decision = yield* Deferred.make<RunOutcome>()
          const decide = (outcome: RunOutcome) => Deferred.succeed(decision, outcome)
          const fallbackTimer = yield* FiberHandle.make<void>()
          const recoveryTimer = yield* FiberHandle.make<void>()
          const armFallback = FiberHandle.run(
            fallbackTimer,
            Effect.sleep(options.fallbackTimeout).pipe(
              Effect.zipRight(observer.notify(Event.FallbackFired({ name, slot: index }))),
              Effect.zipRight(decide(RunOutcome.Advance()))
            ),
            { onlyIfMissing: true }
          )
          const armRecovery = FiberHandle.run(
            recoveryTimer,
            Effect.sleep(options.recoveryTimeout).pipe(
              Effect.zipRight(observer.notify(Event.RecoveryFired({ name, slot: index }))),
              Effect.zipRight(decide(RunOutcome.Recover()))
            ),
            { onlyIfMissing: true }
          )
          yield* observer.notify(Event.SynchronizerStarted({ name, slot: index }))
          if (recoveryApplies && options.recoveryStart === "run-start") yield* armRecovery

          const handle = (result: Source.Result): Effect.Effect<boolean> => {
            switch (result._tag) {
              case "ChangeSet":
                return Effect.gen(function* () {
                  yield* FiberHandle.clear(fallbackTimer)
                  yield* sink.apply(result.changeSet, { role: "synchronizer", name })
                  yield* report({ state: "valid" })
                  yield* initialized
                  if (recoveryApplies && options.recoveryStart === "valid-window") yield* armRecovery
                  return true
                })
              case "Interrupted":
                return Effect.gen(function* () {
                  yield* noteError(result.error)
                  if (conditions) yield* armFallback
                  if (recoveryApplies && options.recoveryStart === "valid-window")
                    yield* FiberHandle.clear(recoveryTimer)
                  return true
                })
              case "Terminal":
                return noteError(result.error).pipe(
                  Effect.zipRight(decide(RunOutcome.Block())),
                  Effect.as(false)
                )
              case "Recycle":
                return Option.match(recycleError(result.reason), {
                  onNone: () => Effect.void,
                  onSome: noteError
                }).pipe(
                  Effect.zipRight(decide(RunOutcome.Recycle({ delay: options.recycleDelay }))),
                  Effect.as(false)
                )
              case "Fdv1Fallback": {
                if (synchronizer.protocol === "fdv1")
                  return Effect.as(observer.notify(Event.DirectiveIgnored({ name })), true)
                if (hasFdv1Tier) return Effect.as(decide(RunOutcome.EngageFdv1()), false)
                return Effect.as(
                  decide(
                    FallbackDirective.staysOnFdv1(result.directive)
                      ? RunOutcome.Pause()
                      : RunOutcome.Recycle({ delay: result.directive.ttl })
                  ),
                  false
                )
              }
            }
          }

          yield* synchronizer.run(sink.selector).pipe(
            Stream.runForEachWhile(handle),
            Effect.catchAllDefect(() => noteError(unexpectedFailure)),
            Effect.zipRight(decide(RunOutcome.Recycle({ delay: options.recycleDelay }))),
            Effect.forkScoped
          )
          return yield* Deferred.await(decision)
        })
      )

    let index = firstAvailable()
    while (index !== undefined) {
      const slot = slots[index]
      if (slot === undefined) break
      const outcome = yield* runSlot(index, slot)
      const name = slot.synchronizer.name
      switch (outcome._tag) {
        case "Advance":
          index = nextAvailable(index)
          break
        case "Block":
          slot.available = false
          yield* observer.notify(Event.SlotBlocked({ name, slot: index }))
          index = nextAvailable(index)
          break
        case "Recycle":
          yield* observer.notify(Event.Recycling({ name, slot: index, delay: outcome.delay }))
          yield* Effect.sleep(outcome.delay)
          break
        case "Recover":
          index = firstAvailable()
          break
        case "EngageFdv1":
          engage()
          yield* observer.notify(Event.Fdv1Engaged({ name }))
          index = firstAvailable()
          break
        case "Pause":
          yield* observer.notify(Event.Paused({ name }))
          yield* Effect.logWarning(
            "The server asked for FDv1 with no time limit and no FDv1 source is configured: data updates are paused"
          )
          return yield* Effect.never
      }
    }

    const afterData = yield* sink.hasData
    yield* observer.notify(Event.Exhausted({ afterData }))
    if (afterData) {
      yield* Effect.logWarning(
        "Every synchronizer is exhausted: serving the data held, with no further updates"
      )
      return
    }
    const category = Option.match(lastError, {
      onNone: () => "no error reported",
      onSome: (error) => error.category
    })
    yield* sink.halt(
      new DataStatus.StatusError({
        category: "sources-exhausted",
        message: `every data source was exhausted before any data arrived (last error: ${category})`
      })
    )
  })
