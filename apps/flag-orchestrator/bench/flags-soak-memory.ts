/**
 * Soak: heap growth (after forced GC) while change sets stream from a real serve-fdv2 over HTTP
 * into a client, the shape of LaunchDarkly's reference soak (warm-up, then 30 000 results) plus a
 * longer run to show there is no growth trend. Ours: one StreamingSynchronizer applying to a
 * `Store`. Anchor, in the same process afterwards against the same server:
 * `@launchdarkly/js-client-sdk-common`'s FDv2 data system (LDClientImpl + createFDv2DataManagerBase,
 * see `support/LdClientAnchor.ts`) on the server's client-side `flag-eval` endpoints.
 *
 *   npm run bench            warm-up 2 000, then 30 000 and 100 000 change sets per side
 *   npm run bench -- --quick warm-up 1 000, then 3 000 and 4 000 (CI: proves it runs; too short to judge a trend)
 *
 * The flag keys cycle over a fixed set, so the data stays the same size and any growth is
 * per-result retention. The producer waits for each batch to be visible before sending the next,
 * so the server's per-connection queue never builds up. LaunchDarkly's published figure for its
 * own soak (under 25 MB per 30 000 results) is printed alongside. Start node with `--expose-gc`.
 */
import { collectGarbage, heapUsed, isQuick, printTable, ratioOf, writeResult } from "@converge/bench"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Stream } from "effect"
import * as Store from "../src/Store.js"
import * as Fdv2Server from "../src/server/Fdv2Server.js"
import * as StreamingSynchronizer from "../src/sources/StreamingSynchronizer.js"
import { makeClient } from "./support/LdClientAnchor.js"

const quick = isQuick()
const warmUp = quick ? 1_000 : 2_000
const window = quick ? 3_000 : 30_000
const long = quick ? 4_000 : 100_000
const keys = 50
const batch = 500
const publishedMbPer30k = 25
/** Below this, heap deltas are GC noise; ratios use it as the floor. */
const floorMb = 0.1
const mb = (bytes: number) => bytes / (1024 * 1024)

/** A client under test: whether it shows `value` for `key` yet, and how to stop it. */
interface Consumer {
  readonly shows: (key: string, value: number) => boolean
}

interface Growth {
  readonly windowPer30k: number
  readonly longPer30k: number
  readonly trendPer30k: number
  readonly windowSeconds: number
  readonly totalSeconds: number
}

/** Streams `warmUp`, then `window`, then up to `long` change sets into `consumer`, measuring the heap. */
const soak = (label: string, consumer: Consumer) =>
  Effect.gen(function* () {
    const server = yield* Fdv2Server.Fdv2Server
    let sent = 0
    const send = (count: number) =>
      Effect.gen(function* () {
        for (let done = 0; done < count; ) {
          const size = Math.min(batch, count - done)
          let lastKey = ""
          let lastValue = 0
          for (let index = 0; index < size; index++) {
            lastValue = sent++
            lastKey = `flag-${lastValue % keys}`
            yield* server.data.put("flag", lastKey, { value: lastValue, variation: lastValue % 3 })
          }
          while (!consumer.shows(lastKey, lastValue)) yield* Effect.sleep("1 millis")
          done += size
          if (done % 10_000 === 0)
            console.log(`  ${label}: ${done.toLocaleString("en")} / ${count.toLocaleString("en")}`)
        }
      })
    const heapNow = () => {
      collectGarbage()
      return heapUsed()
    }
    console.log(`${label}: warm-up ${warmUp}, then ${window} and ${long} change sets`)
    yield* send(warmUp)
    const base = heapNow()
    const started = performance.now()
    yield* send(window)
    const afterWindow = heapNow()
    const windowSeconds = (performance.now() - started) / 1000
    yield* send(long - window)
    const afterLong = heapNow()
    const growth: Growth = {
      windowPer30k: (mb(afterWindow - base) * 30_000) / window,
      longPer30k: (mb(afterLong - base) * 30_000) / long,
      trendPer30k: (mb(afterLong - afterWindow) * 30_000) / (long - window),
      windowSeconds,
      totalSeconds: (performance.now() - started) / 1000
    }
    return growth
  })

/** Ours: one StreamingSynchronizer applying every change set to a `Store`. */
const ours = Effect.scoped(
  Effect.gen(function* () {
    const server = yield* Fdv2Server.Fdv2Server
    const synchronizer = yield* StreamingSynchronizer.make({ baseUrl: server.url })
    let store = Store.empty
    yield* synchronizer.run(Effect.sync(() => store.selector)).pipe(
      Stream.runForEach((result) =>
        Effect.sync(() => {
          if (result._tag === "ChangeSet") store = Store.apply(store, result.changeSet).store
          else console.error(`unexpected ${result._tag} during the soak`)
        })
      ),
      Effect.forkScoped
    )
    const shows = (key: string, value: number) => {
      const item = Store.get(store, "flag", key)
      return item._tag === "Some" && (item.value.object as { value?: unknown }).value === value
    }
    return yield* soak("ours", { shows })
  })
)

/** The anchor: LaunchDarkly's client-side FDv2 data system. */
const anchor = Effect.gen(function* () {
  const server = yield* Fdv2Server.Fdv2Server
  const client = makeClient(server.url)
  yield* Effect.promise(() =>
    client.identify({ kind: "user", key: "soak" } as never, { timeout: 30 } as never)
  )
  const shows = (key: string, value: number) => client.allFlags()[key] === value
  const growth = yield* soak("LaunchDarkly", { shows })
  yield* Effect.promise(() => client.close())
  return growth
})

const main = Effect.gen(function* () {
  const [m, a] = yield* Effect.all([ours, anchor]).pipe(
    Effect.provide(Layer.merge(Fdv2Server.layer(), NodeHttpClient.layerUndici))
  )
  const ratio = (o: number, x: number) => ratioOf(Math.max(o, floorMb), Math.max(x, floorMb), false)
  const cases = [
    {
      name: `${window.toLocaleString("en")} change sets`,
      changeSets: window,
      ours: Number(m.windowPer30k.toFixed(2)),
      anchor: Number(a.windowPer30k.toFixed(2)),
      ratio: ratio(m.windowPer30k, a.windowPer30k),
      oursChangeSetsPerSecond: Math.round(window / m.windowSeconds),
      anchorChangeSetsPerSecond: Math.round(window / a.windowSeconds)
    },
    {
      name: `${long.toLocaleString("en")} change sets`,
      changeSets: long,
      ours: Number(m.longPer30k.toFixed(2)),
      anchor: Number(a.longPer30k.toFixed(2)),
      ratio: ratio(m.longPer30k, a.longPer30k),
      oursChangeSetsPerSecond: Math.round(long / m.totalSeconds),
      anchorChangeSetsPerSecond: Math.round(long / a.totalSeconds)
    }
  ]
  const worst = cases.reduce((x, y) => (y.ratio < x.ratio ? y : x))
  console.log(
    `\nHeap growth per 30 000 change sets after forced GC (warm-up ${warmUp}; streamed over real HTTP from serve-fdv2)\n`
  )
  printTable(
    [
      "case",
      "ours (MB / 30 000)",
      "LaunchDarkly client SDK (MB / 30 000)",
      "ratio",
      "change sets/s (ours / LD)"
    ],
    cases.map((c) => [
      c.name,
      c.ours.toFixed(2),
      c.anchor.toFixed(2),
      c.ratio.toFixed(1),
      `${c.oursChangeSetsPerSecond.toLocaleString("en")} / ${c.anchorChangeSetsPerSecond.toLocaleString("en")}`
    ])
  )
  console.log(
    `\ntrend between ${window.toLocaleString("en")} and ${long.toLocaleString("en")} (MB per 30 000): ours ${m.trendPer30k.toFixed(2)}, LaunchDarkly ${a.trendPer30k.toFixed(2)}`
  )
  console.log(
    `LaunchDarkly's published figure for its own soak: under ${publishedMbPer30k} MB per 30 000 results; goal for ours: under 5 MB (ratio ≥ 5 against that figure) and no trend. Ratios floor both sides at ${floorMb} MB.`
  )
  const path = writeResult(import.meta.url, {
    name: "flags-soak-memory",
    metric: "heap growth per 30 000 streamed change sets after forced GC",
    unit: "MB",
    ours: worst.ours,
    anchor: worst.anchor,
    anchorName:
      "@launchdarkly/js-client-sdk-common 1.32.1 FDv2 data system (LDClientImpl + createFDv2DataManagerBase, streaming) against the same serve-fdv2",
    anchorDrivenLive: true,
    publishedReferenceMbPer30k: publishedMbPer30k,
    ratio: worst.ratio,
    higherIsBetter: false,
    worstCase: worst.name,
    oursTrendMbPer30k: Number(m.trendPer30k.toFixed(2)),
    anchorTrendMbPer30k: Number(a.trendPer30k.toFixed(2)),
    ratioFloorMb: floorMb,
    warmUp,
    cases,
    quick,
    date: new Date().toISOString()
  })
  console.log(`\nworst case ${worst.name}: ratio ${worst.ratio.toFixed(1)}; wrote ${path}`)
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
