import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { parse, sampleValue } from "./PrometheusText.js"

const rejectionOf = (text: string) => Effect.flip(parse(text))

describe("PrometheusText (the strict reader the HTTP tests rely on)", () => {
  it.effect("reads a well-formed exposition", () =>
    Effect.gen(function* () {
      const families = yield* parse(
        [
          "# HELP jobs_total Jobs done",
          "# TYPE jobs_total counter",
          'jobs_total{queue="a"} 3',
          "# TYPE wait_seconds histogram",
          'wait_seconds_bucket{le="0.1"} 1',
          'wait_seconds_bucket{le="+Inf"} 2',
          "wait_seconds_sum 0.7",
          "wait_seconds_count 2",
          ""
        ].join("\n")
      )
      expect(families.get("jobs_total")).toMatchObject({ type: "counter", help: "Jobs done" })
      expect(sampleValue(families, "wait_seconds_bucket", { le: "+Inf" })).toBe(2)
    })
  )

  it.effect("rejects what Prometheus would reject or misread", () =>
    Effect.gen(function* () {
      const broken = {
        noFinalNewline: "up 1",
        badSample: "up one\n",
        unquotedLabel: "up{job=a} 1\n",
        secondType: "# TYPE up gauge\n# TYPE up gauge\nup 1\n",
        typeAfterSamples: "up 1\n# TYPE up gauge\n",
        splitFamily: 'a 1\nb 1\na{x="y"} 1\n',
        repeatedSeries: 'a{x="y"} 1\na{x="y"} 2\n',
        nonCumulative: '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n',
        noInfBucket: '# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n',
        countMismatch: '# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 1\n'
      }
      for (const [name, text] of Object.entries(broken)) {
        const error = yield* rejectionOf(text)
        expect(error._tag, name).toBe("PrometheusTextError")
      }
    })
  )
})
