/**
 * Controller throughput: no-op reconciles per second through a Controller over N distinct keys,
 * against a bare Effect `Queue` consumer loop doing the same no-op work (the anchor), at
 * concurrency 1 and 8, in the same run; plus heap per 100 000 waiting keys.
 *
 *   npm run bench            full: 100 000 keys, median of 11 rounds per case
 *   npm run bench -- --quick 20 000 keys, median of 5 rounds per case
 *
 * Each round measures both sides back to back, alternating which goes first, so the shared
 * machine's noise hits both alike.
 *
 * Live clock, default rate limiting (plain adds are never throttled). Start node with
 * `--expose-gc` (the `bench` script does) for exact heap figures.
 */

import {
  type Case,
  collectGarbage,
  heapUsed,
  isQuick,
  median,
  printTable,
  ratioOf,
  writeResult
} from "@converge/bench"
import { Deferred, Effect, Fiber, Layer, Queue } from "effect"
import * as Controller from "../src/Controller.js"
import * as LeaderGate from "../src/LeaderGate.js"
import * as Outcome from "../src/Outcome.js"

const quick = isQuick()
const keyCount = quick ? 20_000 : 100_000
const rounds = quick ? 5 : 11
const concurrencies = [1, 8] as const
const keys = Array.from({ length: keyCount }, (_, index) => `key-${index}`)
const noop = Effect.succeed(Outcome.done)
let runs = 0

/** Seconds to enqueue every key and reconcile it once through a Controller. */
const timeController = (concurrency: number): Effect.Effect<number> =>
  Effect.scoped(
    Effect.gen(function* () {
      const controller = yield* Controller.make({
        name: `bench-${concurrency}-${runs++}`,
        concurrency,
        reconcile: () => noop
      })
      yield* controller.awaitIdle
      const started = performance.now()
      yield* controller.enqueueAll(keys)
      yield* controller.awaitIdle
      return (performance.now() - started) / 1000
    })
  ).pipe(Effect.provide(LeaderGate.always))

/** Seconds to offer every key to an Effect `Queue` and take each with `concurrency` consumer loops. */
const timeAnchor = (concurrency: number): Effect.Effect<number> =>
  Effect.gen(function* () {
    const queue = yield* Queue.unbounded<string>()
    const finished = yield* Deferred.make<void>()
    let remaining = keys.length
    const consumer = Effect.forever(
      Effect.zipRight(Queue.take(queue), noop).pipe(
        Effect.zipRight(
          Effect.suspend(() => (--remaining === 0 ? Deferred.succeed(finished, undefined) : Effect.void))
        )
      )
    )
    const consumers = yield* Effect.forkAll(Array.from({ length: concurrency }, () => consumer))
    const started = performance.now()
    yield* Queue.offerAll(queue, keys)
    yield* Deferred.await(finished)
    const seconds = (performance.now() - started) / 1000
    yield* Fiber.interrupt(consumers)
    return seconds
  })

const measureCase = (concurrency: number) =>
  Effect.gen(function* () {
    const ours: Array<number> = []
    const anchor: Array<number> = []
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        anchor.push(keyCount / (yield* timeAnchor(concurrency)))
        ours.push(keyCount / (yield* timeController(concurrency)))
      } else {
        ours.push(keyCount / (yield* timeController(concurrency)))
        anchor.push(keyCount / (yield* timeAnchor(concurrency)))
      }
    }
    const oursMedian = median(ours)
    const anchorMedian = median(anchor)
    const result: Case = {
      name: `concurrency ${concurrency}`,
      concurrency,
      keys: keyCount,
      rounds,
      ours: Math.round(oursMedian),
      anchor: Math.round(anchorMedian),
      ratio: ratioOf(oursMedian, anchorMedian, true)
    }
    return result
  })

/** Heap bytes held by `keyCount` waiting keys: a Controller that is not leader vs an Effect `Queue`. */
const measureMemory = Effect.gen(function* () {
  const exact = collectGarbage()
  const controllerBytes = yield* Effect.scoped(
    Effect.gen(function* () {
      const gate = yield* LeaderGate.makeControlled(false)
      const controller = yield* Controller.make({ name: "bench-memory", reconcile: () => noop }).pipe(
        Effect.provide(Layer.succeed(LeaderGate.LeaderGate, gate))
      )
      collectGarbage()
      const before = heapUsed()
      yield* controller.enqueueAll(keys)
      collectGarbage()
      return heapUsed() - before
    })
  )
  const queueBytes = yield* Effect.gen(function* () {
    const queue = yield* Queue.unbounded<string>()
    collectGarbage()
    const before = heapUsed()
    yield* Queue.offerAll(queue, keys)
    collectGarbage()
    const used = heapUsed() - before
    yield* Queue.shutdown(queue)
    return used
  })
  const per100k = (bytes: number) => Math.round((bytes * 100_000) / keyCount)
  return {
    method: exact
      ? "heapUsed delta after global.gc()"
      : "heapUsed delta without gc (best effort: run node with --expose-gc)",
    keys: keyCount,
    controllerBytesPer100kKeys: per100k(controllerBytes),
    anchorBytesPer100kKeys: per100k(queueBytes),
    controllerBytesPerKey: Math.round(controllerBytes / keyCount),
    anchorBytesPerKey: Math.round(queueBytes / keyCount)
  }
})

const program = Effect.gen(function* () {
  // Warm up the JIT on both sides before measuring.
  for (const concurrency of concurrencies) {
    yield* timeAnchor(concurrency)
    yield* timeController(concurrency)
  }
  const cases: Array<Case> = []
  for (const concurrency of concurrencies) cases.push(yield* measureCase(concurrency))
  const memory = yield* measureMemory
  const worst = cases.reduce((a, b) => (b.ratio < a.ratio ? b : a))

  console.log(
    `\nController throughput: ${keyCount} distinct keys, no-op reconcile, median of ${rounds} rounds\n`
  )
  printTable(
    ["case", "controller (keys/s)", "Effect Queue loop (keys/s)", "ratio"],
    cases.map((c) => [c.name, c.ours.toLocaleString("en"), c.anchor.toLocaleString("en"), c.ratio.toFixed(2)])
  )
  const mib = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MiB`
  console.log(`\nMemory per 100 000 waiting keys (${memory.method})\n`)
  printTable(
    ["holder", "per 100 000 keys", "per key"],
    [
      [
        "controller (not leader)",
        mib(memory.controllerBytesPer100kKeys),
        `${memory.controllerBytesPerKey} B`
      ],
      ["Effect Queue", mib(memory.anchorBytesPer100kKeys), `${memory.anchorBytesPerKey} B`]
    ]
  )
  const path = writeResult(import.meta.url, {
    name: "core-controller-throughput",
    metric: "no-op reconciles per second",
    unit: "keys/s",
    ours: worst.ours,
    anchor: worst.anchor,
    anchorName: "Effect Queue consumer loop",
    ratio: worst.ratio,
    higherIsBetter: true,
    worstCase: worst.name,
    cases,
    memory,
    quick,
    date: new Date().toISOString()
  })
  console.log(`\nworst case ${worst.name}: ratio ${worst.ratio.toFixed(2)}; wrote ${path}`)
})

Effect.runPromise(program).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
