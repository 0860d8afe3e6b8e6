import { describe, expect, it } from "vitest"
import * as ProgressLines from "../src/backfill/ProgressLines.js"
import { CdcEvent } from "../src/observe/CdcEvent.js"

describe("ProgressLines", () => {
  it("gives people a line for backfill and start events, none for per-batch ones", () => {
    expect(ProgressLines.lineOf(CdcEvent.BackfillStarted({ index: "orders", total: 3 }))).toBe(
      "orders: backfilling 3 root rows"
    )
    expect(ProgressLines.lineOf(CdcEvent.ReindexInterrupted({ index: "orders" }))).toBe(
      "orders: a reindex was interrupted (crash or stop) and its half-built generation is dropped; to finish it, ask the daemon: converge-cdc reindex orders"
    )
    expect(ProgressLines.lineOf(CdcEvent.WaitingForCommits({ transactions: 2 }))).toBeUndefined()
  })
})
