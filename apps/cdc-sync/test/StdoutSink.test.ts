import { PassThrough } from "node:stream"
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as StdoutSink from "../src/sinks/StdoutSink.js"

const capture = () => {
  const output = new PassThrough()
  const chunks: Array<string> = []
  output.on("data", (chunk: Buffer) => chunks.push(chunk.toString("utf8")))
  return { output, text: () => chunks.join("") }
}

describe("StdoutSink", () => {
  it.effect("writes JSON lines on flush, not before", () =>
    Effect.gen(function* () {
      const { output, text } = capture()
      const sink = yield* StdoutSink.make({ name: "stdout", pretty: false, output })
      yield* sink.write([
        { index: "orders", id: "1", json: '{"total": 10.50}', lsn: 0x10n },
        { index: "orders", id: "2", json: null, lsn: 0x11n }
      ])
      expect(text()).toBe("")
      yield* sink.flush
      expect(
        text()
          .trimEnd()
          .split("\n")
          .map((line) => JSON.parse(line))
      ).toEqual([
        { index: "orders", id: "1", op: "upsert", lsn: "0/10", document: { total: 10.5 } },
        { index: "orders", id: "2", op: "delete", lsn: "0/11", document: null }
      ])
      yield* sink.flush
      expect(text().trimEnd().split("\n")).toHaveLength(2)
      expect(yield* sink.isSeeded("orders")).toBe(false)
    })
  )

  it.effect("pretty prints for people", () =>
    Effect.gen(function* () {
      const { output, text } = capture()
      const sink = yield* StdoutSink.make({ name: "stdout", pretty: true, output })
      yield* sink.write([{ index: "tags", id: "7", json: '{"label":"red"}', lsn: 1n }])
      yield* sink.flush
      expect(text()).toContain('\n  "document": {\n    "label": "red"\n  }')
    })
  )
})
