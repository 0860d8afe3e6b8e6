/**
 * Apply latency: from the moment serve-fdv2 writes a change's `payload-transferred` to the moment
 * it is visible — on the relay's `GET /flags` (the relay running in this process against the
 * server over real HTTP), in a `Store` fed by one StreamingSynchronizer, and in
 * `@launchdarkly/js-client-sdk-common`'s FDv2 data system (`allFlags()`, see
 * `support/LdClientAnchor.ts`) — against the transport floor: a bare `fetch` SSE reader seeing the
 * same `payload-transferred` (the anchor of the ratios).
 *
 *   npm run bench            1 000 changes
 *   npm run bench -- --quick 100 changes
 *
 * One change at a time: each is sent, then every observer must see it before the next. The relay
 * is watched by polling `GET /flags` back to back, so its figure includes up to one request's time.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Case, isQuick, percentile, printTable, ratioOf, writeResult } from "@converge/bench"
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Effect, Layer, Stream } from "effect"
import * as Relay from "../src/relay/Relay.js"
import * as Store from "../src/Store.js"
import * as Fdv2Server from "../src/server/Fdv2Server.js"
import * as StreamingSynchronizer from "../src/sources/StreamingSynchronizer.js"
import { makeClient } from "./support/LdClientAnchor.js"

const quick = isQuick()
const changes = quick ? 100 : 1_000
const sentAt = new Map<number, number>()
const onTransferred = (version: number) => {
  if (!sentAt.has(version)) sentAt.set(version, performance.now())
}

/** A bare SSE reader: records when each `payload-transferred` version arrives. */
const bareReader = (url: string, seen: Map<number, number>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const controller = new AbortController()
      void (async () => {
        const response = await fetch(`${url}/sdk/stream?basis=`, { signal: controller.signal })
        const reader = response.body?.getReader()
        if (reader === undefined) return
        const decoder = new TextDecoder()
        let pending = ""
        while (true) {
          const { value, done } = await reader.read()
          if (done) return
          pending += decoder.decode(value, { stream: true })
          let boundary = pending.indexOf("\n\n")
          while (boundary !== -1) {
            const block = pending.slice(0, boundary)
            pending = pending.slice(boundary + 2)
            if (block.startsWith("event: payload-transferred")) {
              const data = JSON.parse(block.slice(block.indexOf("data: ") + 6)) as { version: number }
              seen.set(data.version, performance.now())
            }
            boundary = pending.indexOf("\n\n")
          }
        }
      })().catch(() => undefined)
      return controller
    }),
    (controller) => Effect.sync(() => controller.abort())
  )

const relayVersion = (url: string) =>
  Effect.promise(() =>
    fetch(`${url}/flags`)
      .then((response) => response.json() as Promise<{ selector: { version: number } }>)
      .then((body) => body.selector.version)
  )

const program = Effect.gen(function* () {
  const server = yield* Fdv2Server.Fdv2Server
  const bareSeen = new Map<number, number>()
  yield* bareReader(server.url, bareSeen)

  const storeSeen = new Map<number, number>()
  let store = Store.empty
  const synchronizer = yield* StreamingSynchronizer.make({ baseUrl: server.url })
  yield* synchronizer.run(Effect.sync(() => store.selector)).pipe(
    Stream.runForEach((result) =>
      Effect.sync(() => {
        if (result._tag !== "ChangeSet") return
        store = Store.apply(store, result.changeSet).store
        if (!storeSeen.has(store.selector.version)) storeSeen.set(store.selector.version, performance.now())
      })
    ),
    Effect.forkScoped
  )

  const ldSeen = new Map<number, number>()
  const ldClient = makeClient(server.url)
  yield* Effect.promise(() =>
    ldClient.identify({ kind: "user", key: "latency" } as never, { timeout: 30 } as never)
  )
  yield* Effect.addFinalizer(() => Effect.promise(() => ldClient.close()))
  let ldWatched: { readonly key: string; readonly value: number } | undefined
  ldClient.on("change", () => {
    if (ldWatched !== undefined && ldClient.allFlags()[ldWatched.key] === ldWatched.value) {
      if (!ldSeen.has(ldWatched.value)) ldSeen.set(ldWatched.value, performance.now())
    }
  })

  const relay = yield* Layer.build(
    Relay.layerFromOptions({
      upstream: server.url,
      port: 0,
      statusPort: 0,
      cacheFile: join(mkdtempSync(join(tmpdir(), "flags-latency-")), "cache.json")
    })
  ).pipe(Effect.map(Context.get(Relay.Relay)))
  while ((yield* relayVersion(relay.url)) < 1) yield* Effect.sleep("10 millis")

  const relayMs: Array<number> = []
  const storeMs: Array<number> = []
  const bareMs: Array<number> = []
  const ldMs: Array<number> = []
  for (let index = 0; index < changes; index++) {
    ldWatched = { key: `flag-${index % 20}`, value: index }
    const { version } = yield* server.data.put("flag", `flag-${index % 20}`, { value: index })
    let relayAt: number | undefined
    while (relayAt === undefined) {
      if ((yield* relayVersion(relay.url)) >= version) relayAt = performance.now()
    }
    while (!storeSeen.has(version) || !bareSeen.has(version) || !ldSeen.has(index)) {
      yield* Effect.sleep("1 millis")
    }
    const sent = sentAt.get(version) ?? Number.NaN
    relayMs.push(relayAt - sent)
    storeMs.push((storeSeen.get(version) ?? Number.NaN) - sent)
    bareMs.push((bareSeen.get(version) ?? Number.NaN) - sent)
    ldMs.push((ldSeen.get(index) ?? Number.NaN) - sent)
    if ((index + 1) % 250 === 0) console.log(`  … ${index + 1} / ${changes}`)
  }
  return { relayMs, storeMs, bareMs, ldMs }
})

const main = Effect.gen(function* () {
  const { relayMs, storeMs, bareMs, ldMs } = yield* Effect.scoped(program).pipe(
    Effect.provide(Layer.merge(Fdv2Server.layer({ onTransferred }), NodeHttpClient.layerUndici))
  )
  const round = (ms: number) => Number(ms.toFixed(2))
  const caseOf = (name: string, samples: ReadonlyArray<number>, fraction: number): Case => {
    const ours = percentile(samples, fraction)
    const anchor = percentile(bareMs, fraction)
    return {
      name,
      ours: round(ours),
      anchor: round(anchor),
      ratio: ratioOf(ours, anchor, false),
      samples: samples.length
    }
  }
  const cases = [
    caseOf("relay GET /flags p50", relayMs, 0.5),
    caseOf("relay GET /flags p99", relayMs, 0.99),
    caseOf("StreamingSynchronizer → Store p50", storeMs, 0.5),
    caseOf("StreamingSynchronizer → Store p99", storeMs, 0.99)
  ]
  const ld = { p50: round(percentile(ldMs, 0.5)), p99: round(percentile(ldMs, 0.99)) }
  const worst = cases.reduce((a, b) => (b.ratio < a.ratio ? b : a))
  const storeCase = (fraction: number) => round(percentile(storeMs, fraction))
  console.log(
    `\nApply latency from payload-transferred written to visible, ${changes} changes one at a time (ms)\n`
  )
  printTable(
    ["case", "ours (ms)", "bare SSE reader (ms)", "ratio"],
    cases.map((c) => [c.name, c.ours.toFixed(2), c.anchor.toFixed(2), c.ratio.toFixed(2)])
  )
  console.log(
    `\nside by side, client library only: StreamingSynchronizer → Store p50 ${storeCase(0.5)} / p99 ${storeCase(0.99)} ms; LaunchDarkly client SDK (FDv2, allFlags) p50 ${ld.p50} / p99 ${ld.p99} ms`
  )
  const path = writeResult(import.meta.url, {
    name: "flags-apply-latency",
    metric: "latency from payload-transferred written to the change visible",
    unit: "ms",
    ours: worst.ours,
    anchor: worst.anchor,
    anchorName: "bare fetch SSE reader seeing the same payload-transferred (the transport floor)",
    ratio: worst.ratio,
    higherIsBetter: false,
    worstCase: worst.name,
    launchDarklyClientSdkMs: ld,
    cases,
    quick,
    date: new Date().toISOString()
  })
  console.log(`\nworst case ${worst.name}: ratio ${worst.ratio.toFixed(2)}; wrote ${path}`)
})

Effect.runPromise(main).catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
