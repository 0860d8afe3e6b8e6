/**
 * Test helpers around a real `serve-fdv2` on a free port: admin calls over real HTTP, waiting on
 * conditions with the real clock (tests may run under `TestClock`), and collecting a
 * synchronizer's results into a queue.
 */
import { NodeHttpClient } from "@effect/platform-node"
import { Chunk, Clock, Duration, Effect, Fiber, Layer, Queue, Ref, Schedule, Stream, TestClock } from "effect"
import * as Selector from "../../src/Selector.js"
import type * as Source from "../../src/Source.js"
import * as Store from "../../src/Store.js"
import * as Fdv2Server from "../../src/server/Fdv2Server.js"
import type * as FlagsFile from "../../src/server/FlagsFile.js"
import type { Stats } from "../../src/server/ServerStats.js"

/** The real clock, for waits on real I/O inside tests that run under `TestClock`. */
export const liveClock = Clock.make()

/** A fresh server for one test, plus the HTTP client the sources use. */
export const serverLayer = (initial?: FlagsFile.InitialData) =>
  Layer.merge(Fdv2Server.layer(initial === undefined ? {} : { initial }), NodeHttpClient.layerUndici)

/** Two flags to start with. */
export const twoFlags: FlagsFile.InitialData = {
  flag: { alpha: { on: true }, beta: { on: false } },
  segment: {}
}

/** Calls the admin API and fails on a non-2xx answer. */
export const admin = (method: "GET" | "PUT" | "POST" | "DELETE", path: string, body?: unknown) =>
  Effect.flatMap(Fdv2Server.Fdv2Server, (server) =>
    Effect.tryPromise(async () => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        ...(body === undefined ? {} : { body: JSON.stringify(body) })
      })
      const text = await response.text()
      if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`)
      return text
    })
  ).pipe(Effect.orDie)

/** The server's stats. */
export const stats = Effect.flatMap(Fdv2Server.Fdv2Server, (server) => server.stats.get)

/** Retries `check` on the real clock every 20 ms until it succeeds (at most 20 s). */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>) =>
  check.pipe(
    Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds"))),
    Effect.withClock(liveClock)
  )

/** Fails (for `eventually`) unless `condition` holds. */
export const require = (condition: boolean, what: string) =>
  condition ? Effect.void : Effect.fail(`not yet: ${what}`)

/** Waits until the server's stats satisfy `predicate`. */
export const awaitStats = (predicate: (stats: Stats) => boolean, what: string) =>
  eventually(Effect.flatMap(stats, (s) => require(predicate(s), `${what} (stats ${JSON.stringify(s)})`)))

/**
 * Runs `synchronizer` against a basis that follows the applied change sets (as the orchestrator's
 * does) and hands each result over: `next` takes one (waiting at most 20 s of real time).
 */
export const runSynchronizer = (synchronizer: Source.Synchronizer) =>
  Effect.gen(function* () {
    const store = yield* Ref.make(Store.empty)
    const queue = yield* Queue.unbounded<Source.Result | "end">()
    const basis = Effect.map(Ref.get(store), (s) => s.selector)
    const fiber = yield* synchronizer.run(basis).pipe(
      Stream.tap((result) =>
        result._tag === "ChangeSet"
          ? Ref.update(store, (s) => Store.apply(s, result.changeSet).store)
          : Effect.void
      ),
      Stream.runForEach((result) => Queue.offer(queue, result)),
      Effect.zipRight(Queue.offer(queue, "end")),
      Effect.forkScoped
    )
    const next = Queue.take(queue).pipe(
      Effect.timeoutFail({ duration: Duration.seconds(20), onTimeout: () => "no result within 20 s" }),
      Effect.withClock(liveClock),
      Effect.orDie
    )
    /** Takes results until one matches `tag`, returning the skipped ones too. */
    const nextOf = <T extends Source.Result["_tag"]>(tag: T) =>
      Effect.gen(function* () {
        const skipped: Array<Source.Result | "end"> = []
        while (true) {
          const result = yield* next
          if (result !== "end" && result._tag === tag) {
            return { result: result as Extract<Source.Result, { _tag: T }>, skipped }
          }
          if (result === "end")
            return yield* Effect.dieMessage(`ended before a ${tag}: ${JSON.stringify(skipped)}`)
          skipped.push(result)
        }
      })
    return {
      store: Ref.get(store),
      next,
      nextOf,
      pending: Effect.map(Queue.takeAll(queue), Chunk.toReadonlyArray),
      fiber,
      stop: Fiber.interrupt(fiber)
    }
  })

/** The delay of the one sleep pending on the `TestClock`, waiting (real time) until there is one. */
export const pendingSleep = Effect.flatMap(TestClock.testClock(), (clock) =>
  eventually(
    Effect.gen(function* () {
      const sleeps = yield* clock.sleeps
      const now = yield* clock.currentTimeMillis
      const first = Chunk.head(sleeps)
      if (first._tag === "None") return yield* Effect.fail("no sleep pending yet")
      return first.value - now
    })
  )
)

/** The selector state of the server now. */
export const serverState = Effect.flatMap(Fdv2Server.Fdv2Server, (server) =>
  Effect.map(server.data.snapshot, (snapshot) => Selector.make(snapshot.state, snapshot.version))
)
