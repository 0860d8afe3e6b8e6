import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { CdcEvent } from "../src/observe/CdcEvent.js"
import * as CdcMetrics from "../src/observe/CdcMetrics.js"

const count = (index: string, outcome: string) =>
  Effect.map(
    Metric.value(Metric.tagged(Metric.tagged(CdcMetrics.reindexesTotal, "index", index), "outcome", outcome)),
    (state) => state.count
  )
const running = (index: string) =>
  Effect.map(Metric.value(Metric.tagged(CdcMetrics.reindexing, "index", index)), (state) => state.value)

describe("CdcMetrics of reindexes and commit waits", () => {
  it.effect(
    "count started, completed, failed and interrupted reindexes by index; the gauge is 1 while one runs",
    () =>
      Effect.gen(function* () {
        const index = "metrics_reindex_orders"
        yield* CdcMetrics.record(CdcEvent.ReindexStarted({ index }))
        expect(yield* running(index)).toBe(1)
        yield* CdcMetrics.record(CdcEvent.ReindexCompleted({ index, documents: 3, lsn: "0/1" }))
        expect(yield* running(index)).toBe(0)
        yield* CdcMetrics.record(CdcEvent.ReindexStarted({ index }))
        yield* CdcMetrics.record(CdcEvent.ReindexFailed({ index, message: "sink down" }))
        expect(yield* count(index, "started")).toBe(2)
        expect(yield* count(index, "completed")).toBe(1)
        expect(yield* count(index, "failed")).toBe(1)
        expect(yield* running(index)).toBe(0)
        yield* CdcMetrics.record(CdcEvent.ReindexInterrupted({ index }))
        expect(yield* count(index, "interrupted")).toBe(1)
      })
  )

  it.effect("count the batches that waited for their commits to become visible", () =>
    Effect.gen(function* () {
      const before = (yield* Metric.value(CdcMetrics.commitWaitsTotal)).count
      yield* CdcMetrics.record(CdcEvent.WaitingForCommits({ transactions: 2 }))
      expect((yield* Metric.value(CdcMetrics.commitWaitsTotal)).count).toBe(before + 1)
    })
  )
})
