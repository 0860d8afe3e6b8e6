import { describe, expect, it } from "@effect/vitest"
import * as Selector from "../src/Selector.js"

describe("Selector", () => {
  it("sends basis= empty on the first request, when no selector is held", () => {
    expect(Selector.withBasis("http://localhost:8030/sdk/stream", Selector.empty)).toBe(
      "http://localhost:8030/sdk/stream?basis="
    )
  })

  it("sends the held state as basis on the next request, URL-encoded, replacing an earlier basis", () => {
    const selector = Selector.make("(p:abc&x=1:42)", 42)
    const url = Selector.withBasis("http://localhost:8030/sdk/poll?filter=web&basis=old", selector)
    const parsed = new URL(url)
    expect(parsed.searchParams.getAll("basis")).toEqual(["(p:abc&x=1:42)"])
    expect(parsed.searchParams.get("filter")).toBe("web")
  })

  it("treats an empty state as the empty selector whatever the version", () => {
    expect(Selector.isEmpty(Selector.make("", 9))).toBe(true)
    expect(Selector.make("", 9)).toBe(Selector.empty)
    expect(Selector.isEmpty(Selector.make("s", 0))).toBe(false)
  })
})
