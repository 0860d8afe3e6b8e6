/**
 * Test sources: scripted initializers and synchronizers for orchestration tests. A scripted
 * synchronizer's run is a stream over a queue the test feeds with `emit`; like a real one it ends
 * after `Terminal`, `Recycle` or `Fdv1Fallback`.
 */
import { Data, Effect, Option, Queue, Ref, Stream } from "effect"
import * as ChangeSet from "../src/ChangeSet.js"
import type * as ConnectionMode from "../src/ConnectionMode.js"
import * as DataSystem from "../src/DataSystem.js"
import type * as ModeResolution from "../src/ModeResolution.js"
import type * as Orchestrator from "../src/Orchestrator.js"
import * as Selector from "../src/Selector.js"
import * as Source from "../src/Source.js"

/** A put of flag `key` at `version`. */
export const put = (key: string, version: number, value: unknown = true) =>
  ChangeSet.Update.Put({ kind: "flag", key, version, object: { value } })

/** A full change set at selector `(state, version)` (empty state: no selector). */
export const full = (state: string, version: number, ...updates: Array<ChangeSet.Update>) =>
  Source.Result.ChangeSet({
    changeSet: ChangeSet.ChangeSet.Full({ selector: Selector.make(state, version), updates })
  })

/** A partial change set at selector `(state, version)`. */
export const partial = (state: string, version: number, ...updates: Array<ChangeSet.Update>) =>
  Source.Result.ChangeSet({
    changeSet: ChangeSet.ChangeSet.Partial({ selector: Selector.make(state, version), updates })
  })

/** A categorized source error. */
export const error = (category: Source.ErrorCategory, message: string, status?: number) =>
  new Source.SourceError({ category, status: Option.fromNullable(status), message })

/** A transient failure. */
export const interrupted = (message = "connection refused") =>
  Source.Result.Interrupted({ error: error("network-error", message) })

/** An unrecoverable failure (HTTP 401). */
export const terminal = () =>
  Source.Result.Terminal({ error: error("http-status", "HTTP 401 from the test", 401) })

/** A goodbye. */
export const goodbye = () => Source.Result.Recycle({ reason: "goodbye" })

/** A scripted initializer answering `results` in turn (the last one again when they run out). */
export interface ScriptedInitializer {
  readonly initializer: Source.Initializer
  readonly calls: Effect.Effect<number>
}

/** Makes a scripted initializer. */
export const initializer = (
  name: string,
  ...results: Array<Source.Result>
): Effect.Effect<ScriptedInitializer> =>
  Effect.map(Ref.make(0), (calls) => ({
    initializer: {
      name,
      run: () =>
        Ref.getAndUpdate(calls, (n) => n + 1).pipe(
          Effect.map((n) => results[Math.min(n, results.length - 1)] ?? interrupted())
        )
    },
    calls: Ref.get(calls)
  }))

/** Emitted when no run is active: a test bug. */
export class NoActiveRunError extends Data.TaggedError("NoActiveRunError")<{ readonly name: string }> {}

/** A scripted synchronizer. */
export interface ScriptedSynchronizer {
  readonly synchronizer: Source.Synchronizer
  /** Runs started so far. */
  readonly runs: Effect.Effect<number>
  /** Whether a run is active now. */
  readonly active: Effect.Effect<boolean>
  /** The basis each run started with. */
  readonly bases: Effect.Effect<ReadonlyArray<Selector.Selector>>
  /** Feeds a result to the active run. */
  readonly emit: (result: Source.Result) => Effect.Effect<void, NoActiveRunError>
}

const endsRun = (result: Source.Result) =>
  result._tag === "Terminal" || result._tag === "Recycle" || result._tag === "Fdv1Fallback"

/** Makes a scripted synchronizer; `onStart` results are emitted by every run as soon as it starts. */
export const synchronizer = (
  name: string,
  protocol: Source.Protocol = "fdv2",
  onStart: ReadonlyArray<Source.Result> = []
): Effect.Effect<ScriptedSynchronizer> =>
  Effect.gen(function* () {
    const runs = yield* Ref.make(0)
    const bases = yield* Ref.make<ReadonlyArray<Selector.Selector>>([])
    const current = yield* Ref.make(Option.none<Queue.Queue<Source.Result>>())
    return {
      synchronizer: {
        name,
        protocol,
        run: (basis) =>
          Stream.unwrapScoped(
            Effect.gen(function* () {
              const queue = yield* Queue.unbounded<Source.Result>()
              yield* Queue.offerAll(queue, onStart)
              const selector = yield* basis
              yield* Ref.update(bases, (seen) => [...seen, selector])
              yield* Ref.update(runs, (n) => n + 1)
              yield* Ref.set(current, Option.some(queue))
              yield* Effect.addFinalizer(() => Ref.set(current, Option.none()))
              return Stream.fromQueue(queue).pipe(Stream.takeUntil(endsRun))
            })
          )
      },
      runs: Ref.get(runs),
      active: Effect.map(Ref.get(current), Option.isSome),
      bases: Ref.get(bases),
      emit: (result) =>
        Effect.flatMap(Ref.get(current), (queue) =>
          Option.match(queue, {
            onNone: () => Effect.fail(new NoActiveRunError({ name })),
            onSome: (active) => Effect.asVoid(Queue.offer(active, result))
          })
        )
    }
  })

/** Sources for one mode. */
export const sources = (
  initializers: ReadonlyArray<ScriptedInitializer>,
  synchronizers: ReadonlyArray<ScriptedSynchronizer>
): Orchestrator.Sources => ({
  initializers: initializers.map((scripted) => scripted.initializer),
  synchronizers: synchronizers.map((scripted) => scripted.synchronizer)
})

/** A data system whose every mode runs `bySource(mode)`, starting in `initialMode`. */
export const dataSystem = (
  bySource: (mode: ConnectionMode.Mode) => Orchestrator.Sources,
  initialMode: ModeResolution.Resolution,
  options: Partial<Orchestrator.Options> = {},
  observer?: DataSystem.Options["observer"]
) =>
  DataSystem.make({
    sources: (mode) => Effect.succeed(bySource(mode)),
    initialMode,
    orchestrator: options,
    ...(observer === undefined ? {} : { observer })
  })
