/**
 * Testing orchestration with `TestClock` and a test source: a synchronizer whose results the test
 * feeds through a queue. Streaming is interrupted; 120 s later (the fallback timeout) the data
 * system moves on to polling, keeping the flags it holds.
 */
import { ChangeSet, type ConnectionMode, Selector, Source } from "@converge/flag-orchestrator"
import { expect, it } from "@effect/vitest"
import { Duration, Effect, Option, Queue, Ref, Stream, TestClock } from "effect"
import { flagValue, start } from "./flags-data-system.js"

/** A test synchronizer: each run streams what the test offers to `results`. */
const testSynchronizer = (name: string, protocol: Source.Protocol) =>
  Effect.gen(function* () {
    const results = yield* Queue.unbounded<Source.Result>()
    const runs = yield* Ref.make(0)
    const synchronizer: Source.Synchronizer = {
      name,
      protocol,
      run: () => Stream.fromQueue(results).pipe(Stream.onStart(Ref.update(runs, (n) => n + 1)))
    }
    return { synchronizer, results, runs: Ref.get(runs) }
  })

const pollingAnswer = Source.Result.ChangeSet({
  changeSet: ChangeSet.ChangeSet.Full({
    selector: Selector.make("state-1", 1),
    updates: [ChangeSet.Update.Put({ kind: "flag", key: "new-checkout", version: 1, object: { on: true } })]
  })
})

const noCache = Source.Result.Interrupted({
  error: new Source.SourceError({ category: "unknown", status: Option.none(), message: "no cache file yet" })
})

const settled = Effect.repeatN(Effect.yieldNow(), 100)

it.scoped("streaming interrupted for the fallback timeout: the data system moves on to polling", () =>
  Effect.gen(function* () {
    const streaming = yield* testSynchronizer("streaming", "fdv2")
    const polling = yield* testSynchronizer("polling", "fdv2")
    const fdv1 = yield* testSynchronizer("fdv1", "fdv1")
    const factory: ConnectionMode.SourceFactory = {
      initializer: (spec) =>
        Effect.succeed({
          name: spec._tag,
          run: () => Effect.succeed(spec._tag === "Cache" ? noCache : pollingAnswer)
        }),
      synchronizer: (spec) =>
        Effect.succeed(
          spec._tag === "Streaming"
            ? streaming.synchronizer
            : spec._tag === "Polling"
              ? polling.synchronizer
              : fdv1.synchronizer
        )
    }
    const { dataSystem } = yield* start(factory)
    yield* dataSystem.waitForInitialization
    expect(yield* flagValue(dataSystem, "new-checkout")).toEqual(
      Option.some({ version: 1, object: { on: true } })
    )

    yield* Queue.offer(
      streaming.results,
      Source.Result.Interrupted({
        error: new Source.SourceError({
          category: "network-error",
          status: Option.none(),
          message: "refused"
        })
      })
    )
    yield* settled
    yield* TestClock.adjust(Duration.seconds(119))
    yield* settled
    expect(yield* polling.runs).toBe(0)
    yield* TestClock.adjust(Duration.seconds(1))
    yield* settled
    expect(yield* polling.runs).toBe(1)
    expect((yield* dataSystem.status.get).state).toBe("interrupted")
    expect(yield* flagValue(dataSystem, "new-checkout")).toEqual(
      Option.some({ version: 1, object: { on: true } })
    )
  })
)
