import { describe, expect, it } from "@effect/vitest"
import { CdcEvent } from "../src/observe/CdcEvent.js"
import * as CdcStatus from "../src/observe/CdcStatus.js"

const fold = (events: ReadonlyArray<CdcEvent>) =>
  events.reduce(CdcStatus.reduce, CdcStatus.initial(new Date(0), ["orders", "tags"]))

describe("CdcStatus", () => {
  it("folds a start, a backfill, live batches, lag, a truncate and an error", () => {
    const backfilling = fold([CdcEvent.BackfillStarted({ index: "orders", total: 10 })])
    expect(backfilling).toMatchObject({
      phase: "backfilling",
      indexes: { orders: "backfilling", tags: "pending" }
    })

    const live = fold([
      CdcEvent.BackfillStarted({ index: "orders", total: 10 }),
      CdcEvent.IndexSeeded({ index: "orders", documents: 10, lsn: "0/10" }),
      CdcEvent.BackfillSkipped({ index: "tags" }),
      CdcEvent.LiveStarted({ slot: "s" }),
      CdcEvent.ChangesCaptured({ changes: 5 }),
      CdcEvent.BatchCommitted({
        transactions: 2,
        changes: 5,
        documents: 3,
        documentsByIndex: { orders: 3 },
        flushMillis: 4,
        ackedLsn: "0/20"
      }),
      CdcEvent.ChangesCaptured({ changes: 7 }),
      CdcEvent.SlotLag({ bytes: 4096 })
    ])
    expect(live).toMatchObject({
      phase: "live",
      indexes: { orders: "seeded", tags: "seeded" },
      changesCaptured: 12,
      changesCommitted: 5,
      changesInFlight: 7,
      documentsWritten: 3,
      batches: 1,
      ackedLsn: "0/20",
      slotLagBytes: 4096,
      errors: 0
    })

    const troubled = [
      CdcEvent.IndexStale({ index: "orders", reason: "truncated" }),
      CdcEvent.BackfillStarted({ index: "orders", total: 0 }),
      CdcEvent.ErrorOccurred({ message: "sink down", retrying: true })
    ].reduce(CdcStatus.reduce, live)
    expect(troubled).toMatchObject({
      phase: "live",
      truncates: 1,
      indexes: { orders: "backfilling" },
      errors: 1,
      lastError: "sink down"
    })
  })
})
