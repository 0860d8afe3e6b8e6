import { describe, expect, it } from "@effect/vitest"
import { CdcEvent } from "../src/observe/CdcEvent.js"
import * as CdcStatus from "../src/observe/CdcStatus.js"

const live = [
  CdcEvent.IndexSeeded({ index: "orders", documents: 10, lsn: "0/10" }),
  CdcEvent.LiveStarted({ slot: "s" }),
  CdcEvent.ChangesCaptured({ changes: 5 })
]
const fold = (events: ReadonlyArray<CdcEvent>) =>
  [...live, ...events].reduce(CdcStatus.reduce, CdcStatus.initial(new Date(0), ["orders", "tags"]))

describe("CdcStatus during a reindex", () => {
  it("shows the index reindexing through its backfill events, then seeded; phase and counters carry on", () => {
    const reindexing = fold([
      CdcEvent.ReindexStarted({ index: "orders" }),
      CdcEvent.BackfillStarted({ index: "orders", total: 10 }),
      CdcEvent.BackfillProgress({ index: "orders", done: 5, total: 10, rowsPerSecond: 5, etaSeconds: 1 })
    ])
    expect(reindexing).toMatchObject({
      phase: "live",
      indexes: { orders: "reindexing", tags: "pending" },
      changesCaptured: 5
    })
    const done = fold([
      CdcEvent.ReindexStarted({ index: "orders" }),
      CdcEvent.BackfillStarted({ index: "orders", total: 10 }),
      CdcEvent.ReindexCompleted({ index: "orders", documents: 10, lsn: "0/30" })
    ])
    expect(done).toMatchObject({
      phase: "live",
      indexes: { orders: "seeded" },
      errors: 0,
      changesCaptured: 5
    })
  })

  it("a failed reindex counts an error naming the index; the index is back to its serving generation", () => {
    const failed = fold([
      CdcEvent.ReindexStarted({ index: "orders" }),
      CdcEvent.ReindexFailed({ index: "orders", message: "sink down" })
    ])
    expect(failed).toMatchObject({
      phase: "live",
      indexes: { orders: "seeded" },
      errors: 1,
      lastError: 'reindex of "orders" failed: sink down'
    })
  })
})
